"""The sweeper: the job table, not the broker, is the truth.

Run by Celery beat every ``SWEEP_INTERVAL`` seconds and when a worker
starts: a running job whose lease ran out (its worker died) goes back to
the queue, and a queued job whose message was lost is sent again.
"""

import datetime
import logging

from django.utils import timezone

from image_importer import conf
from image_importer.models import ImportJob
from image_importer.models import StateConflict

LOG = logging.getLogger(__name__)


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
    stale = now - datetime.timedelta(seconds=conf.get('REQUEUE_AFTER'))
    for job_id in ImportJob.objects.filter(
            state=ImportJob.QUEUED, updated_at__lt=stale).values_list(
                'pk', flat=True):
        if ImportJob.objects.filter(pk=job_id, state=ImportJob.QUEUED,
                                    updated_at__lt=stale).update(
                                        updated_at=now):
            enqueue(job_id)
