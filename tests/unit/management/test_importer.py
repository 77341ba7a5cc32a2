"""``django-admin importer``: the operator's tools."""

import datetime
import fcntl
import io
import os
import time
from unittest import mock

from django.core.management.base import CommandError
from django.core.management import call_command
from django.utils import timezone
import pytest

from image_importer.models import ImportJob
from tests.unit.factories import make_job

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command('importer', *args, stdout=out)
    return out.getvalue()


def expired():
    return timezone.now() - datetime.timedelta(seconds=5)


def test_list_filters_by_state_and_project():
    make_job(image_name='a-failed', state=ImportJob.FAILED)
    make_job(image_name='b-queued')
    make_job(image_name='c-other', project_id='p2', state=ImportJob.FAILED)

    out = run('list', '--state', 'failed', '--project', 'p1')

    assert 'a-failed' in out
    assert 'b-queued' not in out and 'c-other' not in out


def test_clean_keeps_folders_a_job_may_still_use(tmp_path, settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   WORK_DIR=str(tmp_path))
    running = make_job(state=ImportJob.DOWNLOADING, lease_owner='w',
                       lease_expires=expired())
    queued = make_job()            # requeued: its download resumes here
    ended = make_job(state=ImportJob.FAILED)
    deleted = make_job(state=ImportJob.ACTIVE)
    locked = make_job(state=ImportJob.CANCELLED)
    for job in (running, queued, ended, deleted, locked):
        (tmp_path / str(job.pk)).mkdir()
        (tmp_path / ('%s.lock' % job.pk)).touch()
    deleted.delete()
    (tmp_path / 'junk').mkdir()
    old = time.time() - 7200
    for entry in tmp_path.iterdir():
        os.utime(entry, (old, old))
    (tmp_path / 'fresh').mkdir()

    with open(tmp_path / ('%s.lock' % locked.pk)) as held:
        # A live run on this host holds its folder's lock.
        fcntl.flock(held, fcntl.LOCK_EX)
        out = run('clean', '--older-than', '3600')

    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        ['fresh'] + ['%s%s' % (job.pk, suffix)
                     for job in (running, queued, locked)
                     for suffix in ('', '.lock')])
    assert 'junk' in out and str(ended.pk) in out


@mock.patch('image_importer.worker.tasks.enqueue')
def test_requeue_stuck_jobs(enqueue):
    stuck = make_job(state=ImportJob.UPLOADING, lease_owner='dead',
                     lease_expires=expired())
    alive = make_job(state=ImportJob.UPLOADING, lease_owner='live',
                     lease_expires=timezone.now() + datetime.timedelta(
                        seconds=60))

    run('requeue', '--stuck')

    enqueue.assert_called_once_with(stuck.pk)
    assert ImportJob.objects.get(pk=stuck.pk).state == ImportJob.QUEUED
    assert ImportJob.objects.get(pk=alive.pk).state == ImportJob.UPLOADING


def test_fail_ends_a_job_with_the_reason():
    job = make_job()

    run('fail', str(job.pk), '--reason', 'source withdrawn')

    stored = ImportJob.objects.get(pk=job.pk)
    assert (stored.state, stored.error_code, stored.error_params) == (
        ImportJob.FAILED, 'operator', {'reason': 'source withdrawn'})


def test_fail_refuses_a_finished_job():
    job = make_job(state=ImportJob.ACTIVE)
    with pytest.raises(CommandError):
        run('fail', str(job.pk))
