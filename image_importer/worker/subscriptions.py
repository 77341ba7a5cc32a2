"""Following sources: the look at each subscription that is due, the
import each new build starts, and the retirement of older images.

Celery beat sends ``check_due`` every ``SUBSCRIPTION_CHECK_INTERVAL``
seconds. Each subscription is claimed by a conditional UPDATE of its next
check, so two beats (or a "Check Now" at the same moment) never both look.
A look is one small request (``engine.follow``); a new build becomes an
ordinary import job with the subscription's choices and trust. When that
job ends, ``job_ended`` retires the images beyond the newest ``keep``, or
counts a failure: failures back off (each doubles the wait) and, after
``SUBSCRIPTION_MAX_FAILURES`` in a row, stop the subscription until a
person resumes it.
"""

import datetime
import logging

from django.db import transaction
from django.utils import timezone

from image_importer.api import glance as api_glance
from image_importer import conf
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import follow
from image_importer.engine import glance as engine_glance
from image_importer.models import ImportJob
from image_importer.models import Subscription

LOG = logging.getLogger(__name__)
# What a look, or the import it started, came to (``last_result``; the
# dashboard says each in the reader's language, with ``result_params``).
RUNNING = 'running'         # the last build's import still runs
UNCHANGED = 'unchanged'
STARTED = 'started'         # {'file'}: a new build, its import queued
IMPORTED = 'imported'       # {'image', 'kept'}: active; images Glance kept
FAILED = 'failed'           # the next look waits longer
STOPPED = 'stopped'         # {'failures'}: until a person resumes it
# Subscriptions looked at by one beat, at most.
BATCH = 100
KEPT = (engine_glance.KEPT_PROTECTED, engine_glance.KEPT_IN_USE,
        engine_glance.KEPT_REFUSED)
# Each failure doubles the wait, up to this.
LONGEST_WAIT = datetime.timedelta(days=30)


def check_due(enqueue, now=None):
    """Look at every subscription whose check is due."""
    now = now or timezone.now()
    due = Subscription.objects.filter(
        state=Subscription.ACTIVE, next_check_at__lte=now).order_by(
        'next_check_at').values_list('pk', flat=True)[:BATCH]
    for sub_id in list(due):
        try:
            check(sub_id, enqueue, now)
        except Exception:
            LOG.exception('Checking subscription %s failed', sub_id)


def check(sub_id, enqueue, now=None):
    """Look at the subscription once, if it is due and no one else does;
    returns the job started for a new build, if any."""
    now = now or timezone.now()
    sub = Subscription.objects.filter(pk=sub_id).first()
    if sub is None or sub.state != Subscription.ACTIVE:
        return None
    claimed = Subscription.objects.filter(
        pk=sub.pk, state=Subscription.ACTIVE,
        next_check_at=sub.next_check_at, next_check_at__lte=now).update(
        next_check_at=now + datetime.timedelta(seconds=sub.interval),
        last_checked_at=now)
    if not claimed:
        return None
    if sub.jobs.exclude(state__in=ImportJob.END_STATES).exists():
        _record(sub, last_result=RUNNING, result_params={})
        return None
    try:
        found = follow.look(fetch.Fetcher(conf.url_policy()), source(sub),
                            sub.validator, sub.seen)
    except ImportFailure as exc:
        failed(sub, exc.code, exc.params, now)
        return None
    if not found.changed:
        _record(sub, validator=found.validator, failures=0, error_code='',
                error_params={}, last_result=UNCHANGED, result_params={})
        return None
    with transaction.atomic():
        job = start_import(sub, found.release)
        _record(sub, validator=found.validator, seen=found.release.identity,
                error_code='', error_params={}, last_result=STARTED,
                result_params={'file': found.release.file_name})
    transaction.on_commit(lambda: enqueue(job.pk))
    LOG.info('Subscription %s: new build %s, import job %s', sub.pk,
             found.release.url, job.pk)
    return job


def source(sub):
    return follow.Source(sub.source_url, sub.kind, sub.pattern)


def _record(sub, **fields):
    Subscription.objects.filter(pk=sub.pk).update(**fields)
    for name, value in fields.items():
        setattr(sub, name, value)


def image_name(sub, release, today=None):
    """The image's name: the subscription's pattern with {date} (the
    build's, else today's), {file} and {name} filled in."""
    today = today or timezone.now().date().isoformat()
    text = sub.image_name
    for key, value in (('date', release.date or today),
                       ('file', release.file_name), ('name', sub.name)):
        text = text.replace('{%s}' % key, value)
    return text[:255]


def start_import(sub, release):
    """An import job of ``release`` with the subscription's choices and
    authority; queued by the caller."""
    properties = dict(sub.properties)
    properties.update(image_importer_subscription=str(sub.pk),
                      image_importer_build_date=release.date or '')
    return ImportJob.objects.create(
        project_id=sub.project_id, project_name=sub.project_name,
        user_id=sub.user_id, user_name=sub.user_name,
        source_url=release.url, image_name=image_name(sub, release),
        disk_format=sub.disk_format, architecture=sub.architecture,
        min_disk=sub.min_disk, min_ram=sub.min_ram,
        visibility=sub.visibility, protected=sub.protected,
        properties={k: v for k, v in properties.items() if v},
        expected_checksum=release.expected_checksum,
        glance_endpoint=sub.glance_endpoint, trust_id=sub.trust_id,
        subscription=sub, build=release.identity,
        # The subscription's message on the user's next page is the
        # panel's row: an import of a followed source is not announced.
        notified=True)


def failed(sub, code, params, now=None):
    """Count a failure: wait longer before the next look, and stop the
    subscription after too many in a row."""
    now = now or timezone.now()
    failures = sub.failures + 1
    fields = dict(failures=failures, error_code=code,
                  error_params=params or {})
    if failures >= conf.get('SUBSCRIPTION_MAX_FAILURES'):
        fields.update(state=Subscription.STOPPED, last_result=STOPPED,
                      result_params={'failures': failures})
        LOG.warning('Subscription %s stopped after %d failures (%s)',
                    sub.pk, failures, code)
    else:
        wait = min(datetime.timedelta(seconds=sub.interval * 2 ** failures),
                   LONGEST_WAIT)
        fields.update(next_check_at=now + wait, last_result=FAILED,
                      result_params={})
    _record(sub, **fields)


def job_ended(job_id):
    """After an import a subscription started: retire the older images
    if it became active; count a failure (and forget the build, so that
    the next look tries it again) if it failed."""
    job = ImportJob.objects.select_related('subscription').filter(
        pk=job_id).first()
    sub = job and job.subscription
    if sub is None:
        return
    if job.state == ImportJob.ACTIVE:
        _record(sub, failures=0, error_code='', error_params={},
                last_result=IMPORTED, result_params={'image': job.image_name})
        retire(sub)
    elif job.state == ImportJob.FAILED:
        _record(sub, seen='', validator='')
        failed(sub, job.error_code, job.error_params)


def retire(sub, client=None):
    """Hide (or delete) the images the subscription made beyond its
    newest ``keep``; never an image it did not make. Returns
    ``{image_id: what was done}``."""
    made = list(sub.jobs.filter(state=ImportJob.ACTIVE).exclude(
        image_id='').order_by('-finished_at', '-created_at'))
    older = made[max(sub.keep, 1):]
    if not older:
        return {}
    client = client or api_glance.job_client(sub)
    done = {job.image_id: engine_glance.retire_image(
        client, job.image_id, delete=sub.retire == Subscription.DELETE)
        for job in older}
    kept = sorted(image for image, result in done.items()
                  if result in KEPT)
    if kept:
        _record(sub, result_params=dict(sub.result_params, kept=kept))
    LOG.info('Subscription %s retired %s', sub.pk, done)
    return done
