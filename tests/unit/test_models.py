"""The job state machine: one transition table, conditional updates."""

import datetime
import threading
import time

from django.db import connection
from django.db import OperationalError
from django.utils import timezone
import pytest

from image_importer.models import ImportJob
from image_importer.models import InvalidTransition
from image_importer.models import StateConflict
from tests.unit.factories import make_job

pytestmark = pytest.mark.django_db


def test_claim_takes_a_queued_job_once():
    job = make_job()

    first = ImportJob.claim(job.pk, 'worker-a', 300)
    second = ImportJob.claim(job.pk, 'worker-b', 300)

    assert first.state == ImportJob.DOWNLOADING
    assert first.lease_owner == 'worker-a'
    assert second is None


def test_end_states_are_final():
    job = make_job()
    job.cancel()
    with pytest.raises(InvalidTransition):
        job.fail('internal_error')
    assert ImportJob.objects.get(pk=job.pk).state == ImportJob.CANCELLED


def test_illegal_move_is_refused():
    job = make_job()
    with pytest.raises(InvalidTransition):
        job.begin_phase(ImportJob.UPLOADING)  # queued -> uploading


def test_stale_copy_cannot_overwrite_a_newer_state():
    job = make_job()
    running = ImportJob.claim(job.pk, 'w', 300)
    ImportJob.objects.get(pk=job.pk).cancel()   # someone else cancels

    with pytest.raises(StateConflict):
        running.begin_phase(ImportJob.UPLOADING)
    with pytest.raises(StateConflict):
        running.record_progress(10, 100, 300)
    assert ImportJob.objects.get(pk=job.pk).state == ImportJob.CANCELLED


def test_progress_needs_the_lease():
    job = ImportJob.claim(make_job().pk, 'w', 300)
    ImportJob.objects.filter(pk=job.pk).update(lease_owner='other')
    with pytest.raises(StateConflict):
        job.record_progress(1, 2, 300)


def test_failing_erases_the_token_and_lease_keeps_credentials_for_retry():
    job = ImportJob.claim(make_job(source_credentials='enc').pk, 'w', 300)
    job.fail('http_status', {'status': 404}, holder='w')

    stored = ImportJob.objects.get(pk=job.pk)
    assert (stored.state, stored.auth_token, stored.source_credentials,
            stored.lease_owner) == (ImportJob.FAILED, '', 'enc', '')
    assert stored.finished_at is not None
    assert stored.error_params == {'status': 404}


def test_success_erases_every_secret():
    job = ImportJob.claim(make_job(source_credentials='enc').pk, 'w', 300)
    job.begin_phase(ImportJob.UPLOADING)
    job.succeed(10, image_id='img')

    stored = ImportJob.objects.get(pk=job.pk)
    assert (stored.state, stored.auth_token, stored.source_credentials) == (
        ImportJob.ACTIVE, '', '')


def test_timeline_records_each_phase():
    job = ImportJob.claim(make_job().pk, 'w', 300)
    job.record_progress(100, 100, 300)
    job.begin_phase(ImportJob.UPLOADING)
    job.record_progress(40, 40, 300)
    job.succeed(40, image_id='img')

    phases = ImportJob.objects.get(pk=job.pk).phases
    assert [(p['phase'], p['bytes']) for p in phases] == [
        ('downloading', 100), ('uploading', 40)]
    assert all(p['start'] <= p['end'] for p in phases)


def test_requeue_only_from_the_same_lease():
    job = ImportJob.claim(make_job().pk, 'w', 300)
    job.requeue()
    stored = ImportJob.objects.get(pk=job.pk)
    assert (stored.state, stored.lease_owner) == (ImportJob.QUEUED, '')
    assert stored.lease_expires is None
    assert timezone.now() - stored.updated_at < datetime.timedelta(seconds=5)


@pytest.mark.django_db(transaction=True)
def test_claim_is_exclusive_under_concurrency():
    job = make_job()
    barrier = threading.Barrier(6)
    winners, errors = [], []

    def worker(name):
        barrier.wait()
        try:
            # The in-memory SQLite of the tests has no busy timeout; a
            # file database (and PostgreSQL, MariaDB) waits for the lock.
            for _attempt in range(100):
                try:
                    claimed = ImportJob.claim(job.pk, name, 300)
                    break
                except OperationalError as exc:
                    if 'locked' not in str(exc):
                        raise
                    time.sleep(0.01)
            if claimed is not None:
                winners.append(name)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=('w%d' % n,))
               for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(winners) == 1
    assert ImportJob.objects.get(pk=job.pk).lease_owner == winners[0]


def test_a_route_is_kept_on_the_current_phase_with_the_format():
    job = ImportJob.claim(make_job().pk, 'w:1', 300)
    job.note_route('RAW_AS_IT_ARRIVES', 'qcow2')
    job.note_route('CONVERTED_INTO_UPLOAD', 'qcow2')

    stored = ImportJob.objects.get(pk=job.pk)
    assert stored.phases[-1]['routes'] == ['RAW_AS_IT_ARRIVES',
                                           'CONVERTED_INTO_UPLOAD']
    assert stored.phases[-1]['phase'] == ImportJob.DOWNLOADING
    # The job page says the format as soon as it is known.
    assert stored.source_format == 'qcow2'
