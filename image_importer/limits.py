"""Limits on import jobs: how many may wait, and how many may run at once.

Settings (``IMAGE_IMPORTER``; 0 means no limit): ``MAX_QUEUED_PER_PROJECT``
and ``MAX_QUEUED_TOTAL`` bound the jobs waiting in state QUEUED; a submit
that would go over is refused with a message (``check_submit``).
``MAX_RUNNING_PER_PROJECT`` and ``MAX_RUNNING_TOTAL`` bound the jobs in a
RUNNING state, and those cancelled whose run has not stopped yet (so that
submitting and cancelling in a loop cannot hold more workers); a job over
them waits its turn: the worker that claimed it gives it back to the
queue (``may_start``, ``defer``) and its message comes back a few seconds
later.

Why the running limits hold under races: a worker first claims the job
(a committed UPDATE to DOWNLOADING) and only then counts the running jobs,
itself included. Of two jobs claimed at the same moment, the one that
counts last sees the other one, so the two can never both start past the
limit. They may both see each other and both step back; that costs a few
seconds, and the random part of the delay keeps them from colliding again.
Deferred jobs are not taken in order: the first to come back after a job
ends gets the free place.

The queued limits are checked before the job is recorded, without a lock:
submits at the very same moment may pass the limit by that many jobs. They
are there to stop runaway submitting, not to count exactly.
"""

import logging
import random

from django.utils import timezone
from django.utils.translation import ngettext_lazy

from image_importer import conf
from image_importer.engine import glance
from image_importer.models import ImportJob
from image_importer.models import InvalidTransition

LOG = logging.getLogger(__name__)

# A deferred job's message comes back after DEFER_SECONDS, plus up to as
# long again at random so that jobs deferred together spread out.
DEFER_SECONDS = 5.0

MESSAGES = {
    'queued_project': ngettext_lazy(
        'Your project already has %(count)s import waiting to start, the '
        'most allowed (%(limit)s). Wait for it to start, or cancel it if you '
        'do not need it, then submit again; ask the operator if your '
        'project needs a higher limit.',
        'Your project already has %(count)s imports waiting to start, the '
        'most allowed (%(limit)s). Wait for some of them to start, or '
        'cancel those you do not need, then submit again; ask the operator '
        'if your project needs a higher limit.', 'count'),
    'queued_total': ngettext_lazy(
        'This cloud already has %(count)s import waiting to start, the most '
        'it accepts (%(limit)s). Wait a few minutes and submit again; if '
        'this keeps happening, tell the operator.',
        'This cloud already has %(count)s imports waiting to start, the most '
        'it accepts (%(limit)s). Wait a few minutes and submit again; if '
        'this keeps happening, tell the operator.', 'count'),
}


class LimitReached(Exception):
    """A new job would go over a limit; ``str()`` says which and what to
    do, in the reader's language."""

    def __init__(self, code, **params):
        self.code = code
        self.params = params
        super().__init__(code, params)

    def __str__(self):
        return str(MESSAGES[self.code] % self.params)


def _limit(name):
    return int(conf.get(name) or 0)


def check_submit(project_id):
    """Raise ``LimitReached`` if one more queued job of ``project_id``
    would go over a queued limit."""
    queued = ImportJob.objects.filter(state=ImportJob.QUEUED)
    for setting, code, rows in (
            ('MAX_QUEUED_PER_PROJECT', 'queued_project',
             queued.filter(project_id=project_id)),
            ('MAX_QUEUED_TOTAL', 'queued_total', queued)):
        limit = _limit(setting)
        if limit:
            count = rows.count()
            if count >= limit:
                raise LimitReached(code, count=count, limit=limit)


def may_start(job):
    """Whether a job its worker just claimed may run now: the running jobs
    of its project and of all projects, itself included, are within the
    running limits."""
    running = ImportJob.holding_places()
    for setting, rows in (
            ('MAX_RUNNING_PER_PROJECT',
             running.filter(project_id=job.project_id)),
            ('MAX_RUNNING_TOTAL', running)):
        limit = _limit(setting)
        if limit:
            count = rows.count()
            if count > limit:
                LOG.info('Import job %s waits: %d running jobs, %s is %d',
                         job.pk, count, setting, limit)
                return False
    return True


def defer(job, enqueue=None):
    """Give a job just claimed (and not started) back to the queue, as if
    the claim never happened: the attempt is not counted, the timeline
    loses the phase the claim opened, and ``enqueue(job_id, countdown)``
    (by default: the task's message, delayed) brings it back in a few
    seconds. False if the job moved on first (it was cancelled)."""
    if job.state != ImportJob.DOWNLOADING or (
            ImportJob.QUEUED not in ImportJob.TRANSITIONS[job.state]):
        raise InvalidTransition('%s -> %s (defer)' % (job.state,
                                                      ImportJob.QUEUED))
    phases = [dict(p) for p in job.phases]
    if phases and phases[-1].get('phase') == job.state and (
            'end' not in phases[-1]):
        phases.pop()
    fields = dict(state=ImportJob.QUEUED, lease_owner='', lease_expires=None,
                  attempts=max(job.attempts - 1, 0), phases=phases,
                  phase_started_at=None, bytes_done=0, bytes_total=None,
                  updated_at=timezone.now())
    rows = ImportJob.objects.filter(pk=job.pk, state=job.state,
                                    lease_owner=job.lease_owner)
    if rows.update(**fields) != 1:
        LOG.info('Import job %s moved on before it was deferred', job.pk)
        return False
    for name, value in fields.items():
        setattr(job, name, value)
    (enqueue or _enqueue_later)(job.pk, DEFER_SECONDS * (1 + random.random()))
    return True


def _enqueue_later(job_id, countdown):
    """The job's message again after ``countdown`` seconds; if it cannot be
    sent, the sweeper sends one after REQUEUE_AFTER."""
    from image_importer import tasks

    try:
        tasks.run_import.apply_async(args=[str(job_id)], countdown=countdown,
                                     retry=False)
    except Exception:
        LOG.warning('Could not queue import job %s again; the sweeper will',
                    job_id, exc_info=True)


def check_glance_quota(request, size=None):
    """Refuse early what the request's project's Glance quotas would refuse
    (``ImportFailure``; see ``engine.glance.check_quota``)."""
    from openstack_dashboard.api import glance as api_glance

    glance.check_quota(api_glance.glanceclient(request), size)
