"""The dashboard's side of jobs: query them per project, submit them."""

from concurrent import futures
import logging
import urllib.parse

from django.core.exceptions import ValidationError
from django import db
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from openstack_dashboard.api import base as api_base

from image_importer.api import glance as api_glance
from image_importer.api import keystone
from image_importer import crypto
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer import failures
from image_importer import limits
from image_importer.models import ImportJob
from image_importer.models import InvalidTransition
from image_importer.models import StateConflict
from image_importer.worker import tasks


LOG = logging.getLogger(__name__)


def project_jobs(request):
    """Jobs of the request's project: the only ones a member may touch."""
    return ImportJob.objects.filter(project_id=request.user.project_id)


def all_jobs(request):
    """Every project's jobs, for the admin panel (its policy guards it)."""
    return ImportJob.objects.all()


def get_job(request, job_id, scope=project_jobs):
    """The job if ``scope`` lets the request see it, else Http404."""
    try:
        return scope(request).get(pk=job_id)
    except (ImportJob.DoesNotExist, ValidationError):
        raise Http404(job_id)


def cancel(job):
    """Stop a job in any phase; the worker's heartbeat notices within
    ``HEARTBEAT_SECONDS`` and stops the run wherever it waits (closing
    its connections, killing qemu-img), deleting any half-made image."""
    was_queued = job.state == ImportJob.QUEUED
    job.cancel()
    if was_queued:
        # No worker has it, so none will delete its trust.
        keystone.release(job)


class NotYourPassword(Exception):
    """A retry would reuse the source password another user gave."""


def retry(request, job):
    """Run a failed or cancelled job again, as a new job with the acting
    user's authority (the old one stays as the record of what happened).
    The source's password, if the job had one, goes only with its owner's
    retry: another member (or an admin) imports the URL anew instead."""
    if job.source_credentials and job.user_id != request.user.id:
        raise NotYourPassword(_(
            'The import of "%s" used a password for its source that only '
            'the user who gave it may use again. Import the URL again with '
            'your own password.') % job.image_name)
    data = {field: getattr(job, field) for field in REQUEST_FIELDS}
    data.update(name=job.image_name, kernel=job.kernel_id,
                ramdisk=job.ramdisk_id, metadata=job.properties)
    data['source_url'] = job.source_url
    return submit(request, data,
                  credentials=crypto.decrypt(job.source_credentials))


def form_of(job):
    """What the Import form held for ``job``: the fields to pre-fill for
    an edit and retry (the source's password is never shown)."""
    properties = dict(job.properties)
    os_fields = {key: properties.pop(key, '')
                 for key in ('os_distro', 'os_version')}
    initial = {field: getattr(job, field) for field in REQUEST_FIELDS}
    initial.update(
        os_fields, source_url=job.source_url, name=job.image_name,
        kernel=job.kernel_id, ramdisk=job.ramdisk_id,
        checksum_url=job.checksum_url, retry_of=str(job.pk),
        skip_published_checksum=not job.find_checksum,
        metadata='\n'.join('%s=%s' % item
                           for item in sorted(properties.items())))
    return initial


def resubmit(request, job, data):
    """Queue ``data`` (the form, edited) in place of the finished ``job``,
    whose record it replaces. The source's password goes again only with
    its owner's retry of the same URL."""
    new = submit(request, data, credentials=reused_credentials(
        request, job, data['source_url']))
    delete(request, job)
    return new


def reused_credentials(request, job, url):
    """The source password an edit and retry of ``job`` from ``url``
    sends again: its owner's, for the same URL; else None."""
    if (job.source_credentials and job.user_id == request.user.id and
            fetch.split_credentials(url)[0] == job.source_url):
        return crypto.decrypt(job.source_credentials)
    return None


def replaced_job(request, job_id):
    """The job of the request's project that an edit and retry names,
    or None (the submit itself answers 404 for any other)."""
    return project_jobs(request).filter(pk=job_id).first()


def delete(request, job, with_image=False):
    """Delete a finished job's record, and its image if asked."""
    if not job.is_finished:
        raise InvalidTransition(_('Cancel the import before deleting it.'))
    if with_image and job.state == ImportJob.ACTIVE and job.image_id:
        api_glance.delete_image(request, job.image_id)
    elif with_image and job.left_image:
        api_glance.delete_left_image(request, job.left_image)
    keystone.release(job, request)  # if the worker could not
    job.delete()


# Messages a page shows at most for imports that ended; the others are
# counted in one more.
NOTICES_AT_ONCE = 5


def notices(request):
    """What to tell the user of their imports in the current project that
    ended (active or failed) since they last looked, each once:
    ``[(level, text)]`` for Horizon's messages."""
    ended = ImportJob.objects.filter(
        user_id=request.user.id, project_id=request.user.project_id,
        state__in=(ImportJob.ACTIVE, ImportJob.FAILED),
        notified=False).order_by('-finished_at', '-pk')
    told = []
    for job in ended[:NOTICES_AT_ONCE]:
        # Once, whichever page asks first.
        if ImportJob.objects.filter(pk=job.pk, notified=False).update(
                notified=True):
            told.append(_notice(job))
    more = ended.update(notified=True) if len(
        told) == NOTICES_AT_ONCE else 0
    if more:
        told.append(('info', ngettext(
            '%d more import ended: see Image Imports.',
            '%d more imports ended: see Image Imports.', more) % more))
    return told


def _notice(job):
    if job.state == ImportJob.ACTIVE:
        return 'success', _('Image "%s" is ready.') % job.image_name
    return 'error', _('Import of "%(name)s" failed: %(why)s') % {
        'name': job.image_name,
        'why': failures.describe(job.error_code, job.error_params)}


def seen(request, shown):
    """The user saw these jobs in the table or on their page: those that
    ended need no message later."""
    ids = [job.pk for job in shown if job.is_finished and not job.notified
           and job.user_id == request.user.id]
    if ids:
        ImportJob.objects.filter(pk__in=ids).update(notified=True)


def name_from_url(url):
    """The file name at the end of a URL's path ('' when there is none)."""
    return fetch.file_name(url)[:255]


def source_host(url):
    """The host (and port) of a URL, never its user:password part."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ''
    return '%s:%s' % (host, parts.port) if parts.port else host


# Form fields that are copied to the job as they are.
REQUEST_FIELDS = ('description', 'disk_format', 'architecture', 'min_disk',
                  'min_ram', 'visibility', 'protected', 'expected_checksum',
                  'checksum_url')


def submit_many(request, entries):
    """Record and queue a job for each of ``entries`` (form data), all or
    none: ``limits.LimitReached`` if together they would pass a queued
    limit; if one cannot be recorded (its trust refused), none is, and
    the trusts made for the others are deleted."""
    limits.check_submit(request.user.project_id, adding=len(entries))
    made = []
    try:
        with transaction.atomic():
            for data in entries:
                made.append(submit(request, data))
    except BaseException:
        for job in made:
            keystone.release(job, request)
        raise
    return made


def submit(request, data, credentials=None):
    """Record a job for the request's user and queue it after commit;
    ``limits.LimitReached`` if the queued limits refuse it."""
    limits.check_submit(request.user.project_id)
    url, in_url = fetch.split_credentials(data['source_url'])
    credentials = in_url or credentials
    token = request.user.token
    # The user's token, encrypted: the job's authority until its trust is
    # made, or for good without a service user.
    authority = dict(auth_token=crypto.encrypt(token.id),
                     token_expires=token.expires)
    delegated = None
    if keystone.enabled():
        # Refused here, in the form, if the user cannot delegate.
        delegated = keystone.delegation(request,
                                        data.get('visibility') or 'private')
    job = ImportJob.objects.create(
        project_id=request.user.project_id,
        project_name=getattr(request.user, 'project_name', '') or '',
        user_id=request.user.id,
        user_name=request.user.username,
        source_url=url,
        source_credentials=crypto.encrypt(credentials),
        image_name=data.get('name') or name_from_url(url),
        description=data.get('description') or '',
        disk_format=data.get('disk_format') or '',
        architecture=data.get('architecture') or '',
        min_disk=data.get('min_disk') or 0,
        min_ram=data.get('min_ram') or 0,
        visibility=data.get('visibility') or 'private',
        protected=bool(data.get('protected')),
        kernel_id=data.get('kernel') or '',
        ramdisk_id=data.get('ramdisk') or '',
        properties=dict(data.get('metadata') or {}, **{
            key: data[key] for key in ('os_distro', 'os_version')
            if data.get(key)}),
        expected_checksum=data.get('expected_checksum') or '',
        checksum_url=data.get('checksum_url') or '',
        find_checksum=not data.get('skip_published_checksum'),
        glance_endpoint=api_base.url_for(request, 'image'),
        **authority,
    )
    if delegated is None:
        transaction.on_commit(lambda: tasks.enqueue(job.pk))
    else:
        transaction.on_commit(
            lambda: _in_background(authorize, job.pk, delegated))
    return job


# Threads of the web process that make the submitted jobs' trusts after
# the submit has answered: Keystone's round trip was most of a submit.
_TRUST_MAKERS = futures.ThreadPoolExecutor(
    max_workers=4, thread_name_prefix='image-importer-trust')


def _in_background(call, *args):
    def run():
        try:
            call(*args)
        finally:
            db.connection.close()   # the thread's own
    _TRUST_MAKERS.submit(run)


def authorize(job_id, delegated):
    """Make a queued job's trust from its user's ``Delegation``, keep it
    in place of the token, and send the job to the worker.

    A trust Keystone refuses fails the job with the reason. If Keystone
    cannot answer, or the web process stops first, the job still runs, on
    the user's token (the sweeper sends it): it must then end before the
    token expires. A job cancelled meanwhile, or already taken by a
    worker on its token, gets no trust (the one made is deleted)."""
    try:
        try:
            trust_id, expires = keystone.make_trust(delegated)
        except keystone.Unavailable:
            LOG.warning('Import job %s runs on its user\'s token: Keystone '
                        'could not make its trust', job_id)
            tasks.enqueue(job_id)
            return
        except ImportFailure as exc:
            _refused(job_id, exc)
            return
        made = ImportJob.objects.filter(
            pk=job_id, state=ImportJob.QUEUED, trust_id='').update(
                trust_id=trust_id, auth_token='',  # nosec B106
                token_expires=expires, updated_at=timezone.now())
        if made:
            tasks.enqueue(job_id)
        else:
            keystone.delete_trust(delegated, trust_id)
    except Exception:
        LOG.exception('Import job %s: its trust could not be made; the '
                      'sweeper sends it on its user\'s token', job_id)


def _refused(job_id, exc):
    try:
        ImportJob.objects.get(pk=job_id).fail(exc.code, exc.params)
    except (ImportJob.DoesNotExist, StateConflict, InvalidTransition):
        return
    LOG.info('Import job %s failed: %s', job_id, exc)
