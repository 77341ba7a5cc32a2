"""``django-admin importer``: the operator's tools."""

import datetime
import io
import os
import time
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

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


def test_clean_removes_only_folders_no_live_job_owns(tmp_path, settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   WORK_DIR=str(tmp_path))
    live = make_job(state=ImportJob.DOWNLOADING, lease_owner='w',
                    lease_expires=timezone.now() + datetime.timedelta(
                       seconds=60))
    dead = make_job(state=ImportJob.DOWNLOADING, lease_owner='w',
                    lease_expires=expired())
    for job in (live, dead):
        (tmp_path / ('%s-abc' % job.pk)).mkdir()
    (tmp_path / 'junk').mkdir()
    old = time.time() - 7200
    for entry in tmp_path.iterdir():
        os.utime(entry, (old, old))
    (tmp_path / 'fresh').mkdir()

    run('clean', '--older-than', '3600')

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        '%s-abc' % live.pk, 'fresh']


@mock.patch('image_importer.tasks.enqueue')
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
