"""The worker's runner: sweeping lost jobs, reporting, cancelling."""

import datetime
import os
from unittest import mock

from celery.exceptions import SoftTimeLimitExceeded
from django import db
from django.utils import timezone
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import generic
import kombu
import pytest

from image_importer.api import glance as api_glance
from image_importer import crypto
from image_importer.engine.errors import Cancelled
from image_importer import failures
from image_importer.models import ImportJob
from image_importer.worker import celery as celery_app
from image_importer.worker import runner
from image_importer.worker import sweeper
from image_importer.worker import workdir
from tests.unit.factories import make_job

pytestmark = pytest.mark.django_db


def ago(seconds):
    return timezone.now() - datetime.timedelta(seconds=seconds)


def test_sweep_requeues_running_jobs_whose_lease_expired():
    lost = make_job(state=ImportJob.UPLOADING, lease_owner='dead:1',
                    lease_expires=ago(1))
    alive = make_job(state=ImportJob.DOWNLOADING, lease_owner='live:1',
                     lease_expires=timezone.now() + datetime.timedelta(
                        seconds=60))
    sent = []

    sweeper.sweep(sent.append)

    assert sent == [lost.pk]
    assert ImportJob.objects.get(pk=lost.pk).state == ImportJob.QUEUED
    assert ImportJob.objects.get(pk=alive.pk).state == ImportJob.DOWNLOADING


def test_sweep_resends_queued_jobs_left_without_a_message(settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER, REQUEUE_AFTER=60)
    stale = make_job(updated_at=ago(120))
    fresh = make_job()
    finished = make_job(state=ImportJob.FAILED, updated_at=ago(120))
    sent = []

    sweeper.sweep(sent.append)
    sweeper.sweep(sent.append)   # the resent job is not sent again at once

    assert sent == [stale.pk]
    assert fresh.pk not in sent and finished.pk not in sent


def test_reporter_throttles_progress_writes(settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   PROGRESS_INTERVAL=3600)
    job = ImportJob.claim(make_job().pk, 'w', 300)
    reporter = runner.JobReporter(job)
    reporter.phase(ImportJob.DOWNLOADING)

    for done in range(1, 100):
        reporter.progress(done, 100)
    assert ImportJob.objects.get(pk=job.pk).bytes_done == 0
    reporter.progress(100, 100)       # the last one is always written
    assert ImportJob.objects.get(pk=job.pk).bytes_done == 100


def test_reporter_raises_cancelled_once_the_job_is_cancelled():
    job = ImportJob.claim(make_job().pk, 'w', 300)
    reporter = runner.JobReporter(job)
    ImportJob.objects.get(pk=job.pk).cancel()

    with pytest.raises(Cancelled):
        reporter.progress(100, 100)
    with pytest.raises(Cancelled):
        reporter.phase(ImportJob.UPLOADING)


def test_run_job_ignores_a_job_that_is_not_queued(tmp_path, settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   WORK_DIR=str(tmp_path))
    job = make_job(state=ImportJob.CANCELLED)

    runner.run_job(job.pk)

    assert ImportJob.objects.get(pk=job.pk).state == ImportJob.CANCELLED
    assert list(tmp_path.iterdir()) == []


def test_expired_token_fails_with_advice(tmp_path, settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   WORK_DIR=str(tmp_path))
    job = make_job(token_expires=ago(1))

    runner.run_job(job.pk)

    stored = ImportJob.objects.get(pk=job.pk)
    assert (stored.state, stored.error_code) == (ImportJob.FAILED,
                                                 'token_expired')


def test_image_meta_matches_create_image():
    job = make_job(image_name='n', description='d', architecture='x86_64',
                   min_disk=2, min_ram=512, visibility='shared',
                   protected=True, kernel_id='k', properties={'hw_x': '1'})

    meta = api_glance.image_meta(job)('vhd')

    assert meta == {'name': 'n', 'disk_format': 'vhd',
                    'container_format': 'ovf', 'min_disk': 2,
                    'min_ram': 512, 'visibility': 'shared',
                    'protected': True, 'description': 'd',
                    'architecture': 'x86_64', 'kernel_id': 'k',
                    'hw_x': '1'}


def test_a_job_whose_worker_was_lost_too_often_fails(tmp_path, settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER, MAX_ATTEMPTS=2,
                                   WORK_DIR=str(tmp_path))
    job = make_job(attempts=2)

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert (job.state, job.error_code) == (ImportJob.FAILED, 'worker_lost')
    assert job.error_params == {'attempts': 2} and job.attempts == 3


def test_a_job_waits_while_keystone_cannot_answer(tmp_path, settings):
    """Keystone failing as the job starts (a 500: "database is locked")
    sends the job back to the queue for later, its attempt counted; once
    its attempts are spent it fails and says to retry later."""
    settings.IMAGE_IMPORTER = dict(
        settings.IMAGE_IMPORTER, MAX_ATTEMPTS=2, WORK_DIR=str(tmp_path),
        SERVICE_AUTH={'auth_url': 'http://keystone.example.org/v3',
                      'username': 'image-importer', 'password': 's3cret',
                      'user_domain_name': 'Default'})
    job = make_job(trust_id='t1', token_expires=timezone.now() +
                   datetime.timedelta(hours=1))
    sent = []

    def enqueue(job_id, countdown=None):
        sent.append((job_id, countdown))

    with mock.patch.object(generic.Password, 'get_auth_ref',
                           side_effect=ks_exc.InternalServerError()):
        runner.run_job(job.pk, enqueue=enqueue)
        job.refresh_from_db()
        assert (job.state, job.error_code, job.attempts) == (
            ImportJob.QUEUED, '', 1)
        assert [pk for pk, _ in sent] == [job.pk] and sent[0][1] >= 1

        runner.run_job(job.pk, enqueue=enqueue)
        job.refresh_from_db()
        assert (job.state, job.error_code) == (ImportJob.FAILED,
                                               'keystone_unreachable')
    assert len(sent) == 1
    assert 'Retry later' in failures.describe(job.error_code,
                                              job.error_params)
    assert list(tmp_path.iterdir()) == []


def test_progress_goes_on_while_the_database_is_down(monkeypatch):
    job = ImportJob.claim(make_job().pk, 'w', 300)
    reporter = runner.JobReporter(job)
    closed = []
    monkeypatch.setattr(runner.db.connection, 'close',
                        lambda: closed.append(True))

    def down(*args, **kwargs):
        raise db.OperationalError('server closed the connection')

    monkeypatch.setattr(job, 'record_progress', down)
    reporter.progress(10, 100)      # skipped, not raised
    assert closed == [True]


def test_a_phase_change_waits_for_the_database(monkeypatch):
    job = ImportJob.claim(make_job().pk, 'w', 300)
    reporter = runner.JobReporter(job)
    monkeypatch.setattr(runner.time, 'sleep', lambda seconds: None)
    monkeypatch.setattr(runner.db.connection, 'close', lambda: None)
    begin = job.begin_phase
    failures = [db.OperationalError('down')] * 3

    def flaky(phase):
        if failures:
            raise failures.pop()
        begin(phase)

    monkeypatch.setattr(job, 'begin_phase', flaky)
    reporter.phase(ImportJob.UPLOADING)

    assert ImportJob.objects.get(pk=job.pk).state == ImportJob.UPLOADING


def test_a_folder_held_by_a_live_run_is_not_shared(tmp_path, settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   WORK_DIR=str(tmp_path))
    with workdir.work_dir('job-1') as path:
        assert os.path.isdir(path)
        with pytest.raises(workdir.WorkDirBusy):
            with workdir.work_dir('job-1', wait=0):
                pass
    with workdir.work_dir('job-1', wait=0) as again:
        assert again == path


def test_credentials_this_host_cannot_decrypt_fail_with_advice(
        tmp_path, settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   WORK_DIR=str(tmp_path))
    job = make_job(auth_token='gAAAAAB-not-from-this-key')

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert (job.state, job.error_code) == (ImportJob.FAILED, 'key_mismatch')
    assert os.listdir(tmp_path) == []


def test_a_job_past_its_time_limit_fails_with_advice(
        tmp_path, settings, monkeypatch):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER, JOB_TIMEOUT=60,
                                   WORK_DIR=str(tmp_path))
    job = make_job(auth_token=crypto.encrypt('token'))

    def too_long(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(runner.pipeline, 'run', too_long)
    runner.run_job(job.pk)

    job.refresh_from_db()
    assert (job.state, job.error_code) == (ImportJob.FAILED, 'timed_out')
    assert '60 seconds' in failures.describe(job.error_code,
                                             job.error_params)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('broker, no_prefetch', [
    ('redis://127.0.0.1:6379/0', True),
    ('amqp://guest:guest@127.0.0.1:5672//', False),
])
def test_celery_settings_for_long_jobs(settings, broker, no_prefetch):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   BROKER_URL=broker, JOB_TIMEOUT=7200)

    config = celery_app.celery_config()

    assert config['task_acks_late'] is False
    assert config['worker_prefetch_multiplier'] == 1
    assert config['task_soft_time_limit'] == 7200
    assert config['task_time_limit'] == 7500
    assert config['worker_disable_prefetch'] is no_prefetch


def test_embedded_broker_is_polled_often(settings, tmp_path):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER, BROKER_URL=None,
                                   STATE_DIR=str(tmp_path))
    config = celery_app.celery_config()

    with kombu.Connection(config['broker_url']) as connection:
        # A message goes through the SQLite file...
        queue = connection.SimpleQueue('probe')
        queue.put({'job': 1})
        assert queue.get(timeout=5).payload == {'job': 1}
        queue.close()
        # ...which is looked at far more often than kombu's default 1 s,
        # what a new job would otherwise wait in the queue.
        assert connection.transport.polling_interval <= 0.1
    assert os.path.exists(tmp_path / 'broker.sqlite3')
