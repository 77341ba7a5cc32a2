"""Limits on jobs (queued, running) and the early check of Glance's quotas."""

import datetime
from unittest import mock

from django.urls import reverse
from django.utils import timezone
from glanceclient import exc as glance_exc
import pytest

from image_importer.engine.errors import ImportFailure
from image_importer.engine import glance
from image_importer import failures
from image_importer import limits
from image_importer.models import ImportJob
from image_importer.models import InvalidTransition
from image_importer.models import StateConflict
from image_importer.worker import runner
from image_importer.worker import sweeper
from image_importer.worker import tasks
from tests.unit.factories import make_job

MiB = 1024 * 1024
INDEX_URL = reverse('horizon:project:image_imports:index')
CREATE_URL = reverse('horizon:project:image_imports:create')

# GET /v2/info/usage as the real Glance 33 answers it with unified limits
# (tools.stack.Stack(image_limits=...); see tests/integration), and
# without them.
USAGE_WITH_LIMITS = {
    'image_size_total': {'usage': 0, 'limit': 1},
    'image_stage_total': {'usage': 0, 'limit': 1},
    'image_count_total': {'usage': 0, 'limit': 2},
    'image_count_uploading': {'usage': 0, 'limit': 1},
}
USAGE_WITHOUT_LIMITS = {}


def usage(**changes):
    """The recorded answer with some (usage, limit) pairs changed."""
    answer = {name: dict(entry) for name, entry in USAGE_WITH_LIMITS.items()}
    for name, (used, limit) in changes.items():
        answer[name] = {'usage': used, 'limit': limit}
    return answer


def glance_client(answer=None, error=None):
    client = mock.Mock()
    client.info.get_usage.return_value = answer
    client.info.get_usage.side_effect = error
    return client


def limit_settings(settings, **values):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER, **values)


def claimed(project_id='p1', **fields):
    return ImportJob.claim(make_job(project_id, **fields).pk, 'w:1', 300)


# -- queued limits: check_submit --------------------------------------------

@pytest.mark.django_db
def test_submit_over_the_projects_queued_limit_is_refused(settings):
    limit_settings(settings, MAX_QUEUED_PER_PROJECT=2, MAX_QUEUED_TOTAL=0)
    make_job('p1')
    limits.check_submit('p1')            # one waits: a second may join
    make_job('p1')

    with pytest.raises(limits.LimitReached) as refused:
        limits.check_submit('p1')

    assert refused.value.code == 'queued_project'
    message = str(refused.value)
    assert 'already has 2 imports waiting to start' in message
    assert 'the most allowed (2)' in message
    assert 'cancel those you do not need' in message
    assert 'ask the operator' in message


@pytest.mark.django_db
def test_queued_limit_counts_only_the_projects_waiting_jobs(settings):
    limit_settings(settings, MAX_QUEUED_PER_PROJECT=1, MAX_QUEUED_TOTAL=0)
    make_job('other')
    for state in (ImportJob.DOWNLOADING, ImportJob.FAILED, ImportJob.ACTIVE):
        make_job('p1', state=state)

    limits.check_submit('p1')


@pytest.mark.django_db
def test_submit_over_the_total_queued_limit_is_refused(settings):
    limit_settings(settings, MAX_QUEUED_PER_PROJECT=0, MAX_QUEUED_TOTAL=3)
    for project in ('a', 'b', 'c'):
        make_job(project)

    with pytest.raises(limits.LimitReached) as refused:
        limits.check_submit('p1')

    assert refused.value.code == 'queued_total'
    assert 'This cloud already has 3 imports waiting' in str(refused.value)


@pytest.mark.django_db
def test_zero_means_no_queued_limit(settings):
    limit_settings(settings, MAX_QUEUED_PER_PROJECT=0, MAX_QUEUED_TOTAL=0)
    for _ in range(30):
        make_job('p1')

    limits.check_submit('p1')


# -- running limits: may_start ----------------------------------------------

@pytest.mark.django_db
def test_a_claimed_job_counts_itself(settings):
    limit_settings(settings, MAX_RUNNING_PER_PROJECT=1, MAX_RUNNING_TOTAL=0)

    assert limits.may_start(claimed())


@pytest.mark.django_db
def test_a_job_over_the_projects_running_limit_waits(settings):
    limit_settings(settings, MAX_RUNNING_PER_PROJECT=2, MAX_RUNNING_TOTAL=0)
    make_job('p1', state=ImportJob.CONVERTING)
    make_job('p1', state=ImportJob.UPLOADING)
    make_job('p1', state=ImportJob.ACTIVE)
    make_job('other', state=ImportJob.DOWNLOADING)
    job = claimed('p1')

    assert not limits.may_start(job)
    assert limits.may_start(claimed('other'))


@pytest.mark.django_db
def test_a_job_over_the_total_running_limit_waits(settings):
    limit_settings(settings, MAX_RUNNING_PER_PROJECT=0, MAX_RUNNING_TOTAL=2)
    make_job('a', state=ImportJob.DOWNLOADING)
    job = claimed('b')
    assert limits.may_start(job)

    assert not limits.may_start(claimed('c'))


@pytest.mark.django_db
def test_a_cancelled_job_holds_its_place_until_its_run_stops(settings):
    # Submit, cancel, submit: the cancelled job's run may still be
    # stopping, so it counts until it releases its lease (or the lease
    # runs out, its worker gone).
    limit_settings(settings, MAX_RUNNING_PER_PROJECT=1, MAX_RUNNING_TOTAL=0)
    first = claimed('p1')
    ImportJob.objects.get(pk=first.pk).cancel()
    second = claimed('p1')

    assert not limits.may_start(second)
    ImportJob.release(first.pk, 'w:1')
    assert limits.may_start(second)


@pytest.mark.django_db
def test_a_cancelled_job_whose_worker_vanished_frees_its_place(settings):
    limit_settings(settings, MAX_RUNNING_PER_PROJECT=1, MAX_RUNNING_TOTAL=0)
    first = claimed('p1')
    ImportJob.objects.get(pk=first.pk).cancel()
    ImportJob.objects.filter(pk=first.pk).update(
        lease_expires=timezone.now() - datetime.timedelta(seconds=1))

    assert limits.may_start(claimed('p1'))


@pytest.mark.django_db
def test_only_its_own_run_releases_a_cancelled_job(settings):
    job = claimed('p1')
    ImportJob.objects.get(pk=job.pk).cancel()
    ImportJob.release(job.pk, 'someone-else:2')
    assert ImportJob.objects.get(pk=job.pk).lease_owner == 'w:1'
    ImportJob.release(job.pk, 'w:1')
    assert ImportJob.objects.get(pk=job.pk).lease_owner == ''


@pytest.mark.django_db
def test_zero_means_no_running_limit(settings):
    limit_settings(settings, MAX_RUNNING_PER_PROJECT=0, MAX_RUNNING_TOTAL=0)
    for _ in range(5):
        make_job('p1', state=ImportJob.DOWNLOADING)

    assert limits.may_start(claimed('p1'))


@pytest.mark.django_db
def test_two_jobs_claimed_together_never_both_start(settings):
    """Whatever the order of claims and counts, at most the limit start."""
    limit_settings(settings, MAX_RUNNING_PER_PROJECT=1, MAX_RUNNING_TOTAL=0)
    first, second = make_job('p1'), make_job('p1')

    a = ImportJob.claim(first.pk, 'w:1', 300)
    b = ImportJob.claim(second.pk, 'w:2', 300)

    assert (limits.may_start(a), limits.may_start(b)) == (False, False)


# -- giving a job back: ImportJob.defer, by the runner ----------------------

@pytest.mark.django_db
def test_defer_undoes_the_claim():
    earlier = {'phase': 'downloading', 'bytes': 10,
               'start': '2025-01-01T10:00:00+00:00',
               'end': '2025-01-01T10:00:05+00:00'}
    job = claimed(phases=[earlier], attempts=1)
    assert (job.attempts, len(job.phases)) == (2, 2)

    job.defer()

    stored = ImportJob.objects.get(pk=job.pk)
    assert stored.state == ImportJob.QUEUED
    assert stored.attempts == 1               # not counted as an attempt
    assert stored.phases == [earlier]         # no phase left open
    assert (stored.lease_owner, stored.lease_expires) == ('', None)
    assert stored.phase_started_at is None
    assert stored.updated_at > timezone.now() - datetime.timedelta(seconds=5)
    # It can be claimed again, as a fresh attempt.
    again = ImportJob.claim(job.pk, 'w:2', 300)
    assert again.attempts == 2
    assert [p['phase'] for p in again.phases] == ['downloading'] * 2


@pytest.mark.django_db
def test_defer_leaves_a_job_cancelled_meanwhile_alone():
    job = claimed()
    ImportJob.objects.get(pk=job.pk).cancel()

    with pytest.raises(StateConflict):
        job.defer()

    assert ImportJob.objects.get(pk=job.pk).state == ImportJob.CANCELLED


@pytest.mark.django_db
def test_defer_only_undoes_a_fresh_claim():
    job = claimed()
    job.begin_phase(ImportJob.CONVERTING)

    with pytest.raises(InvalidTransition):
        job.defer()


@pytest.mark.django_db
def test_worker_gives_back_a_job_over_the_running_limit(settings):
    limit_settings(settings, MAX_RUNNING_PER_PROJECT=1)
    make_job('p1', state=ImportJob.UPLOADING)
    waiting = make_job('p1')
    sent = []

    with mock.patch.object(runner, 'build_request') as build:
        runner.run_job(waiting.pk,
                       enqueue=lambda *args, **kw: sent.append((args, kw)))

    stored = ImportJob.objects.get(pk=waiting.pk)
    assert (stored.state, stored.attempts, stored.phases) == (
        ImportJob.QUEUED, 0, [])
    [(args, kw)] = sent
    assert args == (waiting.pk,)
    countdown = kw['countdown']
    assert runner.DEFER_SECONDS <= countdown <= 2 * runner.DEFER_SECONDS
    build.assert_not_called()


@pytest.mark.django_db
def test_a_job_cancelled_while_deferred_is_not_sent_again(settings):
    limit_settings(settings, MAX_RUNNING_PER_PROJECT=1)
    make_job('p1', state=ImportJob.UPLOADING)
    waiting = make_job('p1')
    sent = []
    defer = ImportJob.defer

    def cancelled_first(job):
        ImportJob.objects.get(pk=job.pk).cancel()
        defer(job)

    with mock.patch.object(ImportJob, 'defer', cancelled_first):
        runner.run_job(waiting.pk, enqueue=lambda *a, **k: sent.append(a))

    assert ImportJob.objects.get(pk=waiting.pk).state == ImportJob.CANCELLED
    assert sent == []


@pytest.mark.django_db
def test_a_deferred_message_that_cannot_be_sent_is_left_to_the_sweeper(
        settings):
    limit_settings(settings, REQUEUE_AFTER=0)
    job = claimed()
    job.defer()

    with mock.patch('image_importer.worker.tasks.run_import.apply_async',
                    side_effect=OSError('broker down')) as send:
        tasks.enqueue(job.pk, countdown=5)
    send.assert_called_once_with(args=[str(job.pk)], countdown=5,
                                 retry=False)
    sent = []
    sweeper.sweep(sent.append)

    assert sent == [job.pk]


# -- Glance's quotas: engine.glance.check_quota ------------------------------

def test_quota_check_is_quiet_when_glance_enforces_no_quotas():
    glance.check_quota(glance_client(USAGE_WITHOUT_LIMITS), 10 * 1024 * MiB)


@pytest.mark.parametrize('error', [
    glance_exc.HTTPNotFound('no /v2/info/usage'),
    glance_exc.HTTPForbidden('policy'),
    glance_exc.HTTPInternalServerError('oslo.limit misconfigured'),
    glance_exc.CommunicationError('refused'),
])
def test_quota_check_is_quiet_when_glance_cannot_say(error):
    glance.check_quota(glance_client(error=error), 10 * MiB)


def test_quota_check_refuses_an_image_over_the_size_left():
    client = glance_client(usage(image_size_total=(3, 4)))

    with pytest.raises(ImportFailure) as refused:
        glance.check_quota(client, 2 * MiB)

    assert refused.value.code == 'glance_quota_size'
    assert refused.value.params == {'size': 2 * MiB, 'limit': 4 * MiB,
                                    'free': MiB}
    message = failures.describe(refused.value.code, refused.value.params)
    assert message == (
        'This image needs at least 2.0\xa0MB, but your project has only '
        '1.0\xa0MB left of its 4.0\xa0MB of image storage in the Image '
        'service. Delete images you no longer need, keep the image as '
        'qcow2 rather than raw (it stores only the part of the disk in '
        'use), or ask the operator to raise the image_size_total limit, '
        'then retry.')


def test_quota_check_counts_whole_mebibytes_as_glance_does():
    client = glance_client(usage(image_size_total=(3, 4)))

    glance.check_quota(client, 2 * MiB - 1)   # Glance: 3 + 1 <= 4
    glance.check_quota(client, None)          # size unknown


def test_quota_check_refuses_one_image_too_many():
    client = glance_client(usage(image_count_total=(2, 2)))

    with pytest.raises(ImportFailure) as refused:
        glance.check_quota(client)

    assert (refused.value.code, refused.value.params) == (
        'glance_quota_count', {'usage': 2, 'limit': 2})
    assert 'already has 2 images, the most the Image service allows it ' \
        '(2)' in failures.describe(refused.value.code, refused.value.params)
    # Data for an image that already exists adds no image.
    glance.check_quota(client, new_image=False)


def test_quota_check_refuses_one_upload_too_many():
    client = glance_client(usage(image_count_uploading=(1, 1)))

    with pytest.raises(ImportFailure) as refused:
        glance.check_quota(client, MiB)

    assert refused.value.code == 'glance_quota_uploading'
    assert 'Retry when they have finished' in failures.describe(
        refused.value.code, refused.value.params)


def test_quota_check_treats_minus_one_as_unlimited():
    client = glance_client(usage(image_size_total=(500, -1),
                                 image_count_total=(9, -1),
                                 image_count_uploading=(9, -1)))

    glance.check_quota(client, 1024 * MiB)
