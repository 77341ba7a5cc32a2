"""The job store's limits: how many jobs may wait, and how many may run.

Settings (``IMAGE_IMPORTER``; 0 means no limit): ``MAX_QUEUED_PER_PROJECT``
and ``MAX_QUEUED_TOTAL`` bound the jobs waiting in state QUEUED; a submit
that would go over is refused with a message (``check_submit``).
``MAX_RUNNING_PER_PROJECT`` and ``MAX_RUNNING_TOTAL`` bound the jobs in a
RUNNING state, and those cancelled whose run has not stopped yet (so that
submitting and cancelling in a loop cannot hold more workers); a job over
them waits its turn: the worker that claimed it gives it back to the
queue (``may_start``, then ``ImportJob.defer``) and its message comes back
a few seconds later.

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

from image_importer import conf
from image_importer.engine.errors import ImportFailure
from image_importer import failures
from image_importer.models import ImportJob

LOG = logging.getLogger(__name__)


class LimitReached(ImportFailure):
    """A new job would go over a queued limit; ``str()`` says which and
    what to do, in the reader's language (``failures``)."""

    def __str__(self):
        return failures.describe(self.code, self.params)


def check_submit(project_id, adding=1):
    """Raise ``LimitReached`` if ``adding`` more queued jobs of
    ``project_id`` would go over a queued limit."""
    queued = ImportJob.objects.filter(state=ImportJob.QUEUED)
    for setting, code, rows in (
            ('MAX_QUEUED_PER_PROJECT', 'queued_project',
             queued.filter(project_id=project_id)),
            ('MAX_QUEUED_TOTAL', 'queued_total', queued)):
        limit = conf.get(setting)
        if limit:
            count = rows.count()
            if count + adding > limit:
                if adding > 1:
                    raise LimitReached(code + '_many', count=count,
                                       limit=limit, adding=adding)
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
        limit = conf.get(setting)
        if limit:
            count = rows.count()
            if count > limit:
                LOG.info('Import job %s waits: %d running jobs, %s is %d',
                         job.pk, count, setting, limit)
                return False
    return True
