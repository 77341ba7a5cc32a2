"""Following a source against the real Keystone + Glance: a new build on
the test file server becomes an image, an unchanged source costs one
conditional request, the newest N stay and the rest are hidden or
deleted, and failures back off and stop."""

import datetime
import os
import time
from unittest import mock

from django.utils import timezone
import pytest

from image_importer.models import ImportJob
from image_importer.models import Subscription
from image_importer import subscriptions
from image_importer.worker import runner
from image_importer.worker import subscriptions as following
from tests.integration.test_trusts import keystone
from tests.integration.test_trusts import login
from tools.fileserver import FileServer
from tools import images

pytestmark = [pytest.mark.realstack, pytest.mark.django_db]


@pytest.fixture
def mirror(tmp_path, settings, stack):
    root = tmp_path / 'mirror'
    (root / 'noble' / 'current').mkdir(parents=True)
    with FileServer(root, listing=True) as server:
        settings.IMAGE_IMPORTER = dict(
            settings.IMAGE_IMPORTER, WORK_DIR=str(tmp_path / 'work'),
            URL_ALLOWLIST=['127.0.0.1:%d' % server.port],
            SERVICE_AUTH=stack.service_auth(), SUBSCRIPTION_MIN_INTERVAL=0)
        yield server


def publish(mirror, path, build):
    """A new build of a small qcow2 at ``path``, a new mtime with it."""
    folder = mirror.root / os.path.dirname(path)
    images.make_qcow2(str(folder), os.path.basename(path),
                      size=(1 + build) * 1024 * 1024)
    later = time.time() + 10 * build
    os.utime(folder / os.path.basename(path), (later, later))


def follow(stack, url, **fields):
    data = dict(name='Ubuntu 24.04', kind='file', source_url=url,
                image_name='Ubuntu 24.04 ({date}) %s' % time.monotonic(),
                visibility='private', interval=86400, keep=1, retire='hide')
    data.update(fields)
    with mock.patch('image_importer.worker.tasks.check_now'):
        return subscriptions.follow(login(stack, 'demo'), data)


def look(sub, capture):
    """The look beat would make now; runs the import it starts, as the
    worker does. Returns the job, if one started."""
    Subscription.objects.filter(pk=sub.pk).update(
        next_check_at=timezone.now())
    started = []
    with capture(execute=True):
        job = following.check(sub.pk, started.append)
    if job is not None:
        assert started == [job.pk]
        runner.run_job(job.pk)
        job.refresh_from_db()
    sub.refresh_from_db()
    return job


def test_a_new_build_is_imported_and_the_older_image_hidden(
        stack, mirror, demo_glance, django_capture_on_commit_callbacks):
    publish(mirror, 'noble/current/noble.img', 1)
    by_hand = demo_glance.images.create(name='not the subscription\'s',
                                        disk_format='qcow2',
                                        container_format='bare')
    sub = follow(stack, mirror.url('noble/current/noble.img'))

    first = look(sub, django_capture_on_commit_callbacks)
    asked = len(mirror.requests)
    unchanged = look(sub, django_capture_on_commit_callbacks)
    conditional = mirror.requests[asked:]
    publish(mirror, 'noble/current/noble.img', 2)
    second = look(sub, django_capture_on_commit_callbacks)

    try:
        assert first.state == ImportJob.ACTIVE, first.error_code
        assert unchanged is None and sub.last_result == 'imported'
        assert [(method, path) for method, path, _range in conditional] == [
            ('HEAD', '/noble/current/noble.img')]
        assert second.state == ImportJob.ACTIVE, second.error_code
        old = demo_glance.images.get(first.image_id)
        new = demo_glance.images.get(second.image_id)
        assert (old.os_hidden, new.os_hidden) == (True, False)
        assert new.image_importer_subscription == str(sub.pk)
        assert new.name.startswith('Ubuntu 24.04 (20')
        assert demo_glance.images.get(by_hand.id).os_hidden is False
    finally:
        for image_id in (first.image_id, second and second.image_id,
                         by_hand.id):
            if image_id:
                demo_glance.images.delete(image_id)
        subscriptions.delete(login(stack, 'demo'), sub)


def test_a_folder_keeps_the_newest_and_deletes_but_the_protected(
        stack, mirror, demo_glance, django_capture_on_commit_callbacks):
    (mirror.root / 'rocky').mkdir()
    publish(mirror, 'rocky/Rocky-9-20261101.qcow2', 1)
    sub = follow(stack, mirror.url('rocky/'), kind='folder',
                 pattern='Rocky-9-*.qcow2', retire='delete', keep=1,
                 protected=True)
    first = look(sub, django_capture_on_commit_callbacks)
    Subscription.objects.filter(pk=sub.pk).update(protected=False)
    publish(mirror, 'rocky/Rocky-9-20261201.qcow2', 2)
    second = look(sub, django_capture_on_commit_callbacks)
    publish(mirror, 'rocky/Rocky-9-20261207.qcow2', 3)
    third = look(sub, django_capture_on_commit_callbacks)

    try:
        assert [job.state for job in (first, second, third)] == [
            ImportJob.ACTIVE] * 3
        assert third.image_name.startswith('Ubuntu 24.04 (2026-12-07)')
        # The protected one is kept, and the subscription says so.
        assert demo_glance.images.get(first.image_id).protected
        assert sub.result_params['kept'] == [first.image_id]
        remaining = {image.id for image in demo_glance.images.list()}
        assert second.image_id not in remaining
        assert third.image_id in remaining
    finally:
        demo_glance.images.update(first.image_id, protected=False)
        for job in (first, third):
            demo_glance.images.delete(job.image_id)
        subscriptions.delete(login(stack, 'demo'), sub)


def test_failures_back_off_and_stop_the_subscription(
        stack, mirror, django_capture_on_commit_callbacks):
    sub = follow(stack, mirror.url('noble/current/missing.img'),
                 interval=3600)
    waits = []
    for _ in range(3):
        before = timezone.now()
        look(sub, django_capture_on_commit_callbacks)
        waits.append(sub.next_check_at - before)

    assert sub.state == Subscription.STOPPED
    assert (sub.failures, sub.error_code) == (3, 'http_status')
    assert (sub.last_result, sub.result_params) == ('stopped',
                                                    {'failures': 3})
    assert waits[0] >= datetime.timedelta(hours=2) - datetime.timedelta(
        seconds=5)
    assert waits[1] >= datetime.timedelta(hours=4) - datetime.timedelta(
        seconds=5)
    assert len(mirror.requests) == 3
    # Stopped: beat passes it over.
    Subscription.objects.filter(pk=sub.pk).update(
        next_check_at=timezone.now())
    following.check_due(lambda job_id: None)
    assert len(mirror.requests) == 3
    subscriptions.delete(login(stack, 'demo'), sub)


def test_a_subscription_trust_follows_its_visibility_and_goes_with_it(
        stack, mirror):
    # A lasting trust with only the roles an import needs; made anew
    # when the visibility asks for others; deleted with the subscription.
    sub = follow(stack, mirror.url('noble/current/noble.img'))
    first = keystone(stack, 'GET', '/OS-TRUST/trusts/%s' % sub.trust_id)
    old_trust = sub.trust_id

    subscriptions.edit(login(stack, 'demo'), sub, dict(
        subscriptions.form_of(sub), visibility='shared', metadata={}))
    sub.refresh_from_db()
    after_edit = keystone(stack, 'GET', '/OS-TRUST/trusts/%s' % old_trust)
    new_trust = sub.trust_id
    subscriptions.delete(login(stack, 'demo'), sub)

    assert first['trust']['expires_at'] > '2035'
    assert sorted(role['name'] for role in first['trust']['roles']) == [
        'member', 'reader']
    assert (sub.visibility, after_edit) == ('shared', 404)
    assert new_trust and new_trust != old_trust
    assert keystone(stack, 'GET',
                    '/OS-TRUST/trusts/%s' % new_trust) == 404
