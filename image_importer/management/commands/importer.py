"""Operate the importer: ``django-admin importer list|clean|requeue|fail``.

- ``list [--state S] [--project P] [--limit N]``: jobs, newest first.
- ``clean [--older-than SECONDS]``: remove work folders of jobs that
  ended, were deleted or run elsewhere (left by a killed worker or a
  crashed host); folders of queued jobs stay, so their download resumes.
- ``requeue [JOB ...] [--stuck]``: put jobs back in the queue; ``--stuck``
  takes every running job whose lease expired.
- ``fail JOB ... [--reason TEXT]``: end jobs that must not run again.
"""

from django.core.management.base import BaseCommand
from django.core.management.base import CommandError
from django.utils import timezone

import image_importer
from image_importer.api import keystone
from image_importer.models import ImportJob
from image_importer.models import InvalidTransition
from image_importer.models import StateConflict
from image_importer.worker import tasks
from image_importer.worker import workdir


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def get_version(self):
        """``django-admin importer --version``: the plugin's version."""
        return image_importer.__version__

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest='action', required=True)
        listing = sub.add_parser('list', help='list jobs')
        listing.add_argument('--state', choices=[s for s, _l in
                                                 ImportJob.STATE_CHOICES])
        listing.add_argument('--project')
        listing.add_argument('--limit', type=int, default=50)
        clean = sub.add_parser('clean', help='remove orphaned work folders')
        clean.add_argument('--older-than', type=int, default=3600,
                           help='only folders untouched this many seconds')
        requeue = sub.add_parser('requeue', help='queue jobs again')
        requeue.add_argument('jobs', nargs='*')
        requeue.add_argument('--stuck', action='store_true',
                             help='every running job whose lease expired')
        fail = sub.add_parser('fail', help='end jobs as failed')
        fail.add_argument('jobs', nargs='+')
        fail.add_argument('--reason', default='stopped by the operator')

    def handle(self, *args, **options):
        getattr(self, 'do_' + options['action'])(**options)

    def do_list(self, state=None, project=None, limit=50, **kwargs):
        jobs = ImportJob.objects.all()
        if state:
            jobs = jobs.filter(state=state)
        if project:
            jobs = jobs.filter(project_id=project)
        for job in jobs[:limit]:
            self.stdout.write('%s  %-11s %-32s %s  %s' % (
                job.pk, job.state, job.project_id, job.created_at
                .isoformat(timespec='seconds'), job.image_name))

    def do_clean(self, older_than=3600, **kwargs):
        for path in workdir.clean_work_dirs(older_than):
            self.stdout.write('removed %s' % path)

    def _jobs(self, ids):
        for job_id in ids:
            try:
                yield ImportJob.objects.get(pk=job_id)
            except (ImportJob.DoesNotExist, ValueError):
                raise CommandError('no job %s' % job_id)

    def do_requeue(self, jobs=(), stuck=False, **kwargs):
        chosen = list(self._jobs(jobs))
        if stuck:
            chosen += ImportJob.objects.filter(
                state__in=ImportJob.RUNNING, lease_expires__lt=timezone.now())
        for job in chosen:
            try:
                if job.state != ImportJob.QUEUED:
                    job.requeue()
            except (InvalidTransition, StateConflict) as exc:
                raise CommandError('job %s: cannot requeue (%s)'
                                   % (job.pk, exc))
            tasks.enqueue(job.pk)
            self.stdout.write('requeued %s' % job.pk)

    def do_fail(self, jobs=(), reason='', **kwargs):
        for job in self._jobs(jobs):
            was_running = job.is_running
            try:
                job.fail('operator', {'reason': reason})
            except (InvalidTransition, StateConflict) as exc:
                raise CommandError('job %s: cannot fail (%s)' % (job.pk, exc))
            if not was_running:
                # A running job's worker still needs the trust to delete
                # its half-made image; it deletes the trust after that.
                keystone.release(job)
            self.stdout.write('failed %s' % job.pk)
