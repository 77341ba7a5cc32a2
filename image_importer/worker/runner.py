"""Run one import job in a worker: claim it, feed the pipeline, record.

This is the only place that joins the job table (Django) to the engine
(plain Python). Progress writes and a heartbeat renew the job's lease;
when either finds the job moved (cancelled, or requeued after the lease
ran out) the run gets ``Cancelled`` and the engine stops and cleans up.
"""

import contextlib
import logging
import os
import random
import socket
import time

from celery.exceptions import SoftTimeLimitExceeded
from cryptography import fernet
from django import db
from django.utils import timezone

from image_importer.api import glance as api_glance
from image_importer.api import keystone
from image_importer import conf
from image_importer import crypto
from image_importer.engine.errors import Cancelled
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import glance
from image_importer.engine import pipeline
from image_importer import limits
from image_importer.models import ImportJob
from image_importer.models import StateConflict
from image_importer.worker import heartbeat
from image_importer.worker import subscriptions
from image_importer.worker import workdir

LOG = logging.getLogger(__name__)

# A job over the running limits comes back after DEFER_SECONDS, plus up to
# as long again at random so that jobs deferred together spread out.
DEFER_SECONDS = 5.0
# A job that found Keystone down as it started comes back after this many
# seconds, doubled for each attempt it has had, plus up to as long again.
KEYSTONE_WAIT_SECONDS = 10.0


def worker_id(node=None):
    """Who runs a job: the Celery node name (``importer@host``) or the
    host name, and the process id."""
    return '%s:%d' % (node or socket.gethostname(), os.getpid())


def _database_down(exc):
    LOG.warning('Job database unavailable: %s', exc)
    try:
        db.connection.close()     # the next query connects again
    except db.Error:
        pass


def with_database(call, *args, patience=None, **kwargs):
    """``call(*args, **kwargs)``, tried again while the job database is
    unreachable, for up to ``patience`` seconds (the lease by default)."""
    if patience is None:
        patience = conf.get('LEASE_SECONDS')
    deadline = time.monotonic() + patience
    delay = 0.5
    while True:
        try:
            return call(*args, **kwargs)
        except (db.OperationalError, db.InterfaceError) as exc:
            _database_down(exc)
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 10)


class JobReporter:
    """The engine's reporter, writing to the job row at most every
    PROGRESS_INTERVAL seconds.

    A progress write that finds the database down is skipped (the import
    goes on; the next one tries again); phase changes and the image id
    wait for the database to come back, for as long as the lease lasts.
    """

    def __init__(self, job):
        self.job = job
        self.interval = conf.get('PROGRESS_INTERVAL')
        self.lease = conf.get('LEASE_SECONDS')
        self._last = 0.0

    def _write(self, call, *args, **kwargs):
        try:
            call(*args, **kwargs)
        except StateConflict:
            raise Cancelled(self.job.pk)
        self._last = time.monotonic()

    def phase(self, name):
        with_database(self._write, self.job.begin_phase, name)

    def progress(self, done, total):
        if done != total and time.monotonic() - self._last < self.interval:
            return
        try:
            self._write(self.job.record_progress, done, total, self.lease)
        except (db.OperationalError, db.InterfaceError) as exc:
            _database_down(exc)
            self._last = time.monotonic()

    def route(self, name, source_format):
        with_database(self._write, self.job.note_route, name, source_format)

    def provenance(self, origin):
        with_database(self._write, self.job.note_provenance,
                      origin.as_dict())

    def image_created(self, image_id):
        with_database(self._write, self.job.record_progress,
                      self.job.bytes_done, self.job.bytes_total, self.lease,
                      image_id=image_id)


def build_request(job):
    client = api_glance.job_client(job)
    return pipeline.ImportRequest(
        url=job.source_url,
        credentials=crypto.decrypt(job.source_credentials),
        fetcher=fetch.Fetcher(conf.url_policy()),
        glance_client=client,
        image_meta=api_glance.image_meta(job),
        disk_format=job.disk_format or None,
        max_bytes=conf.get('MAX_IMAGE_SIZE'),
        max_virtual_size=conf.get('MAX_VIRTUAL_SIZE'),
        reserve=conf.get('WORK_DIR_RESERVE'),
        expected_checksum=job.expected_checksum or None,
        checksum_url=job.checksum_url or None,
        checksum_policy=conf.checksum_policy(job.source_url,
                                             find=job.find_checksum),
        image_id=job.image_id or None,
        upload_retries=conf.get('UPLOAD_RETRIES'),
        overlap=conf.get('OVERLAP_UPLOAD'),
        overlap_verified=conf.get('OVERLAP_VERIFIED_UPLOAD'),
        upload_retry_delay=conf.get('UPLOAD_RETRY_DELAY'),
        resilience=fetch.Resilience(
            retries=conf.get('DOWNLOAD_RETRIES'),
            deadline=conf.get('DOWNLOAD_DEADLINE'),
            min_rate=conf.get('DOWNLOAD_MIN_RATE'),
            window=conf.get('DOWNLOAD_RATE_WINDOW')))


def _fail(job, owner, code, params, client=None):
    """Record the failure; an image the job made and could not delete is
    named in it (``left_image``), so the user or an admin can."""
    params = dict(params or {})
    left = _left_image(job, client)
    if left:
        params['left_image'] = left
    try:
        with_database(job.fail, code, params, holder=owner)
    except StateConflict:
        LOG.info('Job %s moved on before its failure was recorded', job.pk)


def _left_image(job, client):
    """Delete what the failed job made in Glance (the pipeline has done
    so if it could: this is for a run that died, or authority that was
    lost); the id of an image still there, or ''."""
    if not job.image_id:
        return ''
    try:
        if client is None:
            client = api_glance.job_client(job)
    except Exception as exc:
        LOG.warning('Import job %s: cannot delete its unfinished image %s '
                    '(%s)', job.pk, job.image_id, exc)
        return job.image_id
    if glance.delete_image(client, job.image_id):
        return ''
    LOG.warning('Import job %s left its unfinished image %s', job.pk,
                job.image_id)
    return job.image_id


def _resumable(job):
    """True if another run may continue the job (it was taken over or
    requeued, not cancelled or ended)."""
    try:
        job.refresh_from_db(fields=['state'])
    except ImportJob.DoesNotExist:
        return False
    except db.Error:
        return True
    return not job.is_finished


def run_job(job_id, node=None, enqueue=None):
    """Claim and run a queued job. One over the running limits goes back
    to the queue and ``enqueue(job_id, countdown)`` sends its message
    again in a few seconds."""
    owner = worker_id(node)
    job = ImportJob.claim(job_id, owner, conf.get('LEASE_SECONDS'))
    if job is None:
        LOG.info('Import job %s is not queued; nothing to do', job_id)
        return
    if not limits.may_start(job):
        _defer(job, enqueue)
        return
    LOG.info('Import job %s started by %s (attempt %d)', job.pk, owner,
             job.attempts)
    if job.attempts > conf.get('MAX_ATTEMPTS'):
        _fail(job, owner, 'worker_lost', {'attempts': job.attempts - 1})
    elif job.token_expires and job.token_expires <= timezone.now():
        _fail(job, owner, 'trust_expired' if job.trust_id else
              'token_expired', {})
    else:
        try:
            with workdir.work_dir(job.pk) as path:
                _adopt_partial(job, path)
                if not _run(job, owner, path, enqueue):
                    _keep_partial(job, path)
                    workdir.remove_work_dir(path)
        except workdir.WorkDirBusy:
            LOG.warning('Import job %s: an earlier run on this host still '
                        'holds its folder; the sweeper will requeue it',
                        job.pk)
    with contextlib.suppress(db.Error):
        ImportJob.release(job.pk, owner)
    keystone.release_if_finished(job)
    if job.subscription_id:
        try:
            subscriptions.job_ended(job.pk)
        except Exception:
            LOG.exception('Import job %s: its subscription could not '
                          'retire older images', job.pk)
    with contextlib.suppress(Exception):
        workdir.clean_work_dirs(older_than=60)


def _partial_key(job):
    """What a kept download is filed under: the project, the URL and its
    password (a member without it cannot take what it fetched)."""
    try:
        credentials = crypto.decrypt(job.source_credentials)
    except fernet.InvalidToken:
        return None
    return crypto.fingerprint(job.project_id, job.source_url, credentials)


def _adopt_partial(job, path):
    key = _partial_key(job)
    held = key and workdir.adopt_partial(path, key)
    if held:
        LOG.info('Import job %s continues the %d bytes an earlier import '
                 'of its URL downloaded', job.pk, held)


# Failures whose download is not kept: it filled the disk (it would keep
# it full), or its bytes are not the publisher's (a retry must fetch them
# again, not continue them).
NOT_KEPT = ('disk_full', 'checksum_mismatch')


def _keep_partial(job, path):
    """Keep what a failed or cancelled job downloaded, for a retry."""
    with contextlib.suppress(ImportJob.DoesNotExist, db.Error, OSError):
        job.refresh_from_db(fields=['state', 'error_code'])
        key = _partial_key(job)
        if (job.state in (ImportJob.FAILED, ImportJob.CANCELLED) and
                job.error_code not in NOT_KEPT and key and
                workdir.keep_partial(path, key)):
            LOG.info('Import job %s: its download is kept for a retry',
                     job.pk)


def _defer(job, enqueue):
    try:
        job.defer()
    except StateConflict:
        LOG.info('Import job %s moved on before it was deferred', job.pk)
        return
    enqueue(job.pk, countdown=DEFER_SECONDS * (1 + random.random()))


def _succeed(job, request, result):
    """Record the import's findings; a job cancelled at that very moment
    loses its image (``Cancelled``)."""
    try:
        with_database(
            job.succeed, result.size, image_id=result.image_id,
            source_format=result.source_format,
            disk_format=result.disk_format,
            virtual_size=result.virtual_size,
            compression=result.compression or '',
            archive_member=result.archive_member or '',
            checksums=result.checksums,
            checksum_verified=result.verified or '',
            suggestions=result.suggestions)
    except StateConflict:
        glance.delete_image(request.glance_client, result.image_id)
        raise Cancelled(job.pk)
    LOG.info('Import job %s finished: image %s', job.pk, result.image_id)


def _client(request):
    return None if request is None else request.glance_client


def _wait_for_keystone(job, owner, enqueue):
    """Send a job that found Keystone down as it started back to the
    queue, its attempt counted; True if it went, False if its attempts
    are spent (or it moved on meanwhile)."""
    if enqueue is None or job.attempts >= conf.get('MAX_ATTEMPTS'):
        return False
    try:
        with_database(job.requeue)
    except StateConflict:
        LOG.info('Import job %s moved on while Keystone was down', job.pk)
        return False
    delay = KEYSTONE_WAIT_SECONDS * 2 ** (job.attempts - 1)
    LOG.warning('Import job %s waits for Keystone: attempt %d of %d again '
                'in about %d s', job.pk, job.attempts,
                conf.get('MAX_ATTEMPTS'), delay)
    enqueue(job.pk, countdown=delay * (1 + random.random()))
    return True


def _run(job, owner, path, enqueue=None):
    """Run the pipeline; True if its folder should stay for a later run."""
    request = None
    try:
        try:
            request = build_request(job)
        except keystone.Unavailable:
            if _wait_for_keystone(job, owner, enqueue):
                return True
            raise
        with heartbeat.Interrupt(job.pk) as interrupt, heartbeat.Heartbeat(
                job, conf.get('HEARTBEAT_SECONDS'),
                conf.get('LEASE_SECONDS'), on_lost=interrupt.stop):
            result = pipeline.run(request, path, JobReporter(job))
        _succeed(job, request, result)
    except Cancelled:
        LOG.info('Import job %s stopped: cancelled or taken over', job.pk)
        if _resumable(job):
            return True
        # The engine deletes what it made on its way out; this is for an
        # image it had no chance to (stopped between two steps).
        _left_image(job, _client(request))
        return False
    except SoftTimeLimitExceeded:
        LOG.info('Import job %s ran out of time', job.pk)
        _fail(job, owner, 'timed_out',
              {'seconds': conf.get('JOB_TIMEOUT')}, _client(request))
    except ImportFailure as exc:
        LOG.info('Import job %s failed: %s', job.pk, exc)
        _fail(job, owner, exc.code, exc.params, _client(request))
    except fernet.InvalidToken:
        LOG.error('Import job %s: its credentials cannot be decrypted on '
                  'this host; every host needs the same SECRET_KEY or '
                  "IMAGE_IMPORTER['ENCRYPTION_KEY']", job.pk)
        _fail(job, owner, 'key_mismatch', {})
    except (db.OperationalError, db.InterfaceError):
        LOG.exception('Import job %s lost its database; it stays for the '
                      'sweeper', job.pk)
        return True
    except Exception:
        LOG.exception('Import job %s failed unexpectedly', job.pk)
        _fail(job, owner, 'internal_error', {}, _client(request))
    return False
