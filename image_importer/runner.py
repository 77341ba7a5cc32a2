"""Run one import job in a worker: claim it, feed the pipeline, record.

This is the only place that joins the job table (Django) to the engine
(plain Python). Progress writes renew the job's lease; when a write finds
the job moved (cancelled, or requeued after the lease ran out) the reporter
raises ``Cancelled`` and the engine stops and cleans up.
"""

import datetime
import logging
import os
import shutil
import socket
import tempfile
import time

from django.conf import settings
from django.utils import timezone
from openstack_dashboard.api import glance as horizon_glance

from image_importer import conf
from image_importer import crypto
from image_importer.engine import fetch
from image_importer.engine import glance
from image_importer.engine import pipeline
from image_importer.engine.errors import Cancelled
from image_importer.engine.errors import ImportFailure
from image_importer.models import ImportJob
from image_importer.models import StateConflict

LOG = logging.getLogger(__name__)


def worker_id():
    return '%s:%d' % (socket.gethostname(), os.getpid())


class JobReporter:
    """The engine's reporter, writing to the job row at most every
    PROGRESS_INTERVAL seconds."""

    def __init__(self, job):
        self.job = job
        self.interval = float(conf.get('PROGRESS_INTERVAL'))
        self.lease = int(conf.get('LEASE_SECONDS'))
        self._last = 0.0

    def _write(self, call, *args, **kwargs):
        try:
            call(*args, **kwargs)
        except StateConflict:
            raise Cancelled(self.job.pk)
        self._last = time.monotonic()

    def phase(self, name):
        self._write(self.job.begin_phase, name)

    def progress(self, done, total):
        if done != total and time.monotonic() - self._last < self.interval:
            return
        self._write(self.job.record_progress, done, total, self.lease)

    def image_created(self, image_id):
        self._write(self.job.record_progress, self.job.bytes_done,
                    self.job.bytes_total, self.lease, image_id=image_id)


def _glance_verify():
    cacert = getattr(settings, 'OPENSTACK_SSL_CACERT', None)
    if getattr(settings, 'OPENSTACK_SSL_NO_VERIFY', False):
        return False
    return cacert or True


def image_meta(job):
    """Glance fields for the final disk format, built by Horizon's own
    Create Image code so defaults and the container format match it."""
    def build(disk_format):
        return horizon_glance.create_image_metadata({
            **job.properties,
            'kernel': job.kernel_id,
            'ramdisk': job.ramdisk_id,
            'name': job.image_name,
            'description': job.description,
            'disk_format': disk_format,
            'architecture': job.architecture,
            'min_disk': job.min_disk,
            'min_ram': job.min_ram,
            'visibility': job.visibility,
            'protected': job.protected,
        })
    return build


def build_request(job):
    client = glance.make_client(job.glance_endpoint,
                                crypto.decrypt(job.auth_token),
                                verify=_glance_verify())
    return pipeline.ImportRequest(
        url=job.source_url,
        credentials=crypto.decrypt(job.source_credentials),
        fetcher=fetch.Fetcher(conf.url_policy()),
        glance_client=client,
        image_meta=image_meta(job),
        disk_format=job.disk_format or None,
        max_bytes=int(conf.get('MAX_IMAGE_SIZE')),
        max_virtual_size=int(conf.get('MAX_VIRTUAL_SIZE')),
        reserve=int(conf.get('WORK_DIR_RESERVE')),
        expected_checksum=job.expected_checksum or None,
        checksum_url=job.checksum_url or None,
        resilience=fetch.Resilience(
            retries=int(conf.get('DOWNLOAD_RETRIES')),
            deadline=float(conf.get('DOWNLOAD_DEADLINE')),
            min_rate=int(conf.get('DOWNLOAD_MIN_RATE')),
            window=float(conf.get('DOWNLOAD_RATE_WINDOW'))))


def _fail(job, owner, code, params):
    try:
        job.fail(code, params, holder=owner)
    except StateConflict:
        LOG.info('Job %s moved on before its failure was recorded', job.pk)


def run_job(job_id):
    owner = worker_id()
    job = ImportJob.claim(job_id, owner, int(conf.get('LEASE_SECONDS')))
    if job is None:
        LOG.info('Import job %s is not queued; nothing to do', job_id)
        return
    LOG.info('Import job %s started by %s', job.pk, owner)
    if job.token_expires and job.token_expires <= timezone.now():
        _fail(job, owner, 'token_expired', {})
        return
    work_root = conf.get('WORK_DIR')
    os.makedirs(work_root, mode=0o700, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix='%s-' % job.pk, dir=work_root)
    try:
        request = build_request(job)
        if job.image_id:
            # Made by an earlier run whose worker was lost.
            glance.delete_image(request.glance_client, job.image_id)
        result = pipeline.run(request, workdir, JobReporter(job))
        try:
            job.succeed(result.size, image_id=result.image_id,
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
    except Cancelled:
        LOG.info('Import job %s stopped: cancelled or taken over', job.pk)
    except ImportFailure as exc:
        LOG.info('Import job %s failed: %s', job.pk, exc)
        _fail(job, owner, exc.code, exc.params)
    except Exception:
        LOG.exception('Import job %s failed unexpectedly', job.pk)
        _fail(job, owner, 'internal_error', {})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def sweep(enqueue):
    """Requeue jobs whose worker vanished; resend lost queued messages."""
    now = timezone.now()
    for job in ImportJob.objects.filter(state__in=ImportJob.RUNNING,
                                        lease_expires__lt=now):
        try:
            job.requeue()
        except StateConflict:
            continue
        LOG.warning('Import job %s lost its worker; requeued', job.pk)
        enqueue(job.pk)
    stale = now - datetime.timedelta(seconds=int(conf.get('REQUEUE_AFTER')))
    for job_id in ImportJob.objects.filter(
            state=ImportJob.QUEUED, updated_at__lt=stale).values_list(
                'pk', flat=True):
        if ImportJob.objects.filter(pk=job_id, state=ImportJob.QUEUED,
                                    updated_at__lt=stale).update(
                                        updated_at=now):
            enqueue(job_id)
