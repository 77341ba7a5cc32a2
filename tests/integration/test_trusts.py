"""Jobs longer than a token, against a real Keystone 30 + Glance 33.

A dedicated stack issues tokens that live 60 seconds, and a throttled file
server makes each download outlast them. Jobs are submitted through
``jobs.submit`` with a real Horizon user (openstack_auth's, from a real
login) and run as the Celery task runs them (``runner.run_job``).
"""

import contextlib
import os
import threading
import time
from unittest import mock
import urllib.error
import urllib.request

from django.test import RequestFactory
from django.test import TestCase
from django.utils import timezone
from glanceclient import client as glance_client
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from openstack_auth import user as auth_user
import pytest

from image_importer.api import keystone as api_keystone
from image_importer import crypto
from image_importer import failures
from image_importer import jobs
from image_importer.models import ImportJob
from image_importer.worker import runner
from tools.fileserver import FileServer
from tools import images
from tools import stack as stack_tool

pytestmark = [pytest.mark.realstack, pytest.mark.django_db]

TOKEN_SECONDS = 60


@pytest.fixture(scope='module')
def short_stack(tmp_path_factory):
    """A stack of its own whose tokens expire after a minute."""
    state = tmp_path_factory.mktemp('short-stack')
    with stack_tool.Stack(state, keystone_port=stack_tool.free_port(),
                          glance_port=stack_tool.free_port(),
                          token_expiration=TOKEN_SECONDS) as running:
        yield running


@pytest.fixture
def worker_settings(settings, tmp_path):
    settings.IMAGE_IMPORTER = dict(
        settings.IMAGE_IMPORTER, WORK_DIR=str(tmp_path / 'work'),
        PROGRESS_INTERVAL=0.5, SERVICE_AUTH=None)
    return settings


@contextlib.contextmanager
def serving(settings, tmp_path, seconds):
    """A 4 MiB qcow2 served slowly enough to take ``seconds``; yields
    ``(url, original raw bytes)``."""
    root = tmp_path / 'samples'
    root.mkdir()
    path, original = images.make_qcow2(str(root), 'slow.qcow2')
    rate = os.path.getsize(path) // seconds
    with FileServer(root, rate=rate) as server:
        settings.IMAGE_IMPORTER = dict(
            settings.IMAGE_IMPORTER,
            URL_ALLOWLIST=['127.0.0.1:%d' % server.port])
        yield server.url('slow.qcow2'), original


def login(stack, user):
    """A Horizon request of ``user`` right after logging in: a real
    openstack_auth User on a fresh token, catalog and roles."""
    password, project, _roles = stack_tool.USERS[user]
    session = ks_session.Session(auth=v3.Password(
        auth_url=stack.keystone_url, username=user, password=password,
        user_domain_name='Default', project_name=project,
        project_domain_name='Default'))
    token = auth_user.Token(session.auth.get_access(session))
    request = RequestFactory().post('/')
    request.session = {}
    request.user = auth_user.create_user_from_token(request, token,
                                                    stack.keystone_url)
    return request


def keystone(stack, method, path):
    """An admin call to Keystone; the decoded body, or the HTTP status if
    Keystone answered an error."""
    try:
        return stack_tool._call(method, stack.keystone_url + path,
                                token=stack.token('admin'))[1]
    except urllib.error.HTTPError as exc:
        return exc.code


def token_valid(stack, token):
    """Whether Keystone still accepts ``token``."""
    request = urllib.request.Request(
        stack.keystone_url + '/auth/tokens', method='HEAD',
        headers={'X-Auth-Token': stack.token('admin'),
                 'X-Subject-Token': token})
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as exc:
        assert exc.code == 404, exc
        return False
    return True


def submit(request, url, **fields):
    """As the dashboard submits: the job, then, once the submit answered,
    its trust (made here in this thread; the test runs the job itself)."""
    with mock.patch.object(jobs, '_in_background',
                           lambda call, *args: call(*args)), \
            mock.patch.object(jobs.tasks, 'enqueue'), \
            TestCase.captureOnCommitCallbacks(execute=True):
        job = jobs.submit(request, {
            'source_url': url, 'name': 'hii-trust-%s' % time.monotonic(),
            'visibility': 'private', **fields})
    job.refresh_from_db()
    return job


def run(job):
    began = time.monotonic()
    runner.run_job(job.pk)
    job.refresh_from_db()
    return job, time.monotonic() - began


def user_glance(stack, user):
    password, project, _roles = stack_tool.USERS[user]
    session = ks_session.Session(auth=v3.Password(
        auth_url=stack.keystone_url, username=user, password=password,
        user_domain_name='Default', project_name=project,
        project_domain_name='Default'))
    return glance_client.Client('2', session=session)


def assert_demo_image_holds(stack, job, original, tmp_path):
    """The job's image is active in the demo project and holds
    ``original``; it is deleted, and returned."""
    glance = user_glance(stack, 'demo')
    image = glance.images.get(job.image_id)
    assert image.status == 'active'
    path = str(tmp_path / 'from-glance')
    with open(path, 'wb') as f:
        for chunk in glance.images.data(image.id):
            f.write(chunk)
    assert images.to_raw_bytes(path, image.disk_format) == original
    glance.images.delete(image.id)
    return image


def test_job_outlives_the_token_on_a_trust_and_deletes_it(
        short_stack, worker_settings, tmp_path):
    settings = worker_settings
    settings.IMAGE_IMPORTER['SERVICE_AUTH'] = short_stack.service_auth()
    with serving(settings, tmp_path, TOKEN_SECONDS + 8) as (url, original):
        request = login(short_stack, 'demo')
        user_token = request.user.token
        job = submit(request, url)

        # The trust: from demo to the service user, demo's project and
        # roles, impersonating, until the job's deadline; no token kept.
        assert job.auth_token == ''
        trust = keystone(short_stack, 'GET',
                         '/OS-TRUST/trusts/%s' % job.trust_id)['trust']
        assert trust['trustor_user_id'] == request.user.id
        assert trust['trustee_user_id'] == short_stack.user_ids[
            'image-importer']
        assert trust['project_id'] == short_stack.project_ids['demo']
        assert trust['impersonation'] is True
        assert {r['name'] for r in trust['roles']} == {
            r['name'] for r in request.user.roles}
        assert trust['expires_at'].startswith(
            job.token_expires.strftime('%Y-%m-%dT%H:%M:%S'))
        assert -60 < (job.token_expires - api_keystone.trust_deadline()
                      ).total_seconds() < api_keystone.TRUST_SPREAD + 60
        assert token_valid(short_stack, user_token.id)

        job, took = run(job)

    assert job.state == ImportJob.ACTIVE, failures.describe(
        job.error_code, job.error_params)
    # The job outlived the user's token: Keystone no longer accepts it.
    assert timezone.now() > user_token.expires
    assert took > TOKEN_SECONDS
    assert not token_valid(short_stack, user_token.id)
    # Glance saw the user: the image is the demo project's own.
    image = assert_demo_image_holds(short_stack, job, original, tmp_path)
    assert image.owner == short_stack.project_ids['demo']
    # The worker deleted the trust when the job ended.
    assert keystone(short_stack, 'GET',
                    '/OS-TRUST/trusts/%s' % trust['id']) == 404
    assert job.trust_id == ''


def test_without_service_user_job_fails_when_the_token_expires(
        short_stack, worker_settings, tmp_path):
    settings = worker_settings
    with serving(settings, tmp_path, TOKEN_SECONDS + 8) as (url, _original):
        request = login(short_stack, 'demo')
        # Converted to a file first (a VMDK), so the upload starts after
        # the download, once the token has expired.
        job = submit(request, url, disk_format='vmdk')
        assert job.trust_id == ''
        assert request.user.token.id not in job.auth_token
        assert crypto.decrypt(job.auth_token) == request.user.token.id

        job, _took = run(job)

    assert job.state == ImportJob.FAILED
    assert job.error_code == 'token_expired'
    message = failures.describe(job.error_code, job.error_params)
    assert 'Your login expired before the import finished' in message
    assert "IMAGE_IMPORTER['SERVICE_AUTH']" in message
    assert job.image_id == ''
    assert job.auth_token == ''


@pytest.mark.parametrize('disk_format', ['', 'raw'])
def test_without_service_user_an_upload_begun_in_time_outlives_the_token(
        short_stack, worker_settings, tmp_path, disk_format):
    # Kept as it is, or a qcow2 made raw, the image is uploaded while it
    # downloads: Glance took the token when the upload began, as with
    # Horizon's own upload.
    settings = worker_settings
    with serving(settings, tmp_path, TOKEN_SECONDS + 8) as (url, original):
        request = login(short_stack, 'demo')
        job = submit(request, url, disk_format=disk_format)
        job, took = run(job)

    assert job.state == ImportJob.ACTIVE, failures.describe(
        job.error_code, job.error_params)
    assert took > TOKEN_SECONDS
    assert_demo_image_holds(short_stack, job, original, tmp_path)


def remove_role(stack, user, role):
    """Take ``role`` on their project away from ``user``, as the cloud
    admin (system scope) does."""
    admin = {'name': 'admin', 'password': stack_tool.USERS['admin'][0],
             'domain': {'name': 'Default'}}
    headers, _body = stack_tool._call(
        'POST', stack.keystone_url + '/auth/tokens', {'auth': {
            'identity': {'methods': ['password'],
                         'password': {'user': admin}},
            'scope': {'system': {'all': True}}}})
    system = headers['X-Subject-Token']
    roles = {r['name']: r['id'] for r in stack_tool._call(
        'GET', stack.keystone_url + '/roles', token=system)[1]['roles']}
    project = stack_tool.USERS[user][1]
    stack_tool._call('DELETE', '%s/projects/%s/users/%s/roles/%s' % (
        stack.keystone_url, stack.project_ids[project],
        stack.user_ids[user], roles[role]), token=system)


def test_role_removed_mid_job_fails_it_with_authorization_lost(
        short_stack, worker_settings, tmp_path):
    settings = worker_settings
    settings.IMAGE_IMPORTER['SERVICE_AUTH'] = short_stack.service_auth()
    removed = threading.Event()

    def take_role_away():
        remove_role(short_stack, 'alt', 'member')
        removed.set()

    with serving(settings, tmp_path, 12) as (url, _original):
        request = login(short_stack, 'alt')
        job = submit(request, url)
        timer = threading.Timer(4, take_role_away)
        timer.start()
        try:
            job, took = run(job)
        finally:
            timer.join()

    assert removed.is_set()
    assert job.state == ImportJob.FAILED
    assert job.error_code == 'authorization_lost'
    assert 'your role on the project was removed' in failures.describe(
        job.error_code, job.error_params)
    assert took < 40
    # The upload had begun (it follows the download): the worker cannot
    # delete the image it made, so the failure names it and the project's
    # admin deletes it with the record.
    assert job.image_id and job.left_image == job.image_id
    assert job.image_id in failures.describe(job.error_code,
                                             job.error_params)
    # Keystone refuses the trust now, also to delete it: it stays recorded
    # (the trustor may still delete it) and ends at its expiry.
    assert job.trust_id
    with pytest.raises(ks_exc.Forbidden):
        ks_session.Session(auth=v3.Password(
            auth_url=short_stack.keystone_url, username='image-importer',
            password='image-importer', user_domain_name='Default',
            trust_id=job.trust_id)).get_token()
    admin = login(short_stack, 'admin')
    admin_glance = user_glance(short_stack, 'admin')
    assert admin_glance.images.get(job.image_id).owner == (
        short_stack.project_ids['alt'])
    jobs.delete(admin, job, with_image=True)
    with pytest.raises(glance_exc.HTTPNotFound):
        admin_glance.images.get(job.image_id)
    assert not ImportJob.objects.filter(pk=job.pk).exists()


def test_cancel_and_delete_from_the_dashboard_delete_the_trust(
        short_stack, worker_settings):
    settings = worker_settings
    settings.IMAGE_IMPORTER['SERVICE_AUTH'] = short_stack.service_auth()
    request = login(short_stack, 'demo')
    url = 'http://127.0.0.1:9/never-run.qcow2'

    # A queued job: no worker will see it, so cancel deletes its trust
    # (with a token scoped to the trust itself: cancel has no request).
    queued = submit(request, url)
    trust_id = queued.trust_id
    jobs.cancel(queued)
    assert keystone(short_stack, 'GET',
                    '/OS-TRUST/trusts/%s' % trust_id) == 404
    assert ImportJob.objects.get(pk=queued.pk).trust_id == ''

    # A record deleted with its trust still there: the trustor's own
    # token deletes it, through Horizon's keystone client.
    failed = submit(request, url)
    trust_id = failed.trust_id
    failed.fail('operator', {'reason': 'test'})
    with mock.patch.object(api_keystone, '_delete_with_trust') as by_trust:
        jobs.delete(request, failed)
    by_trust.assert_not_called()
    assert keystone(short_stack, 'GET',
                    '/OS-TRUST/trusts/%s' % trust_id) == 404
    assert not ImportJob.objects.filter(pk=failed.pk).exists()


@pytest.mark.parametrize('visibility, roles', [
    ('private', {'member', 'reader'}),
    ('public', {'admin', 'member', 'reader'}),
])
def test_an_admins_trust_carries_only_what_the_import_needs(
        short_stack, worker_settings, tmp_path, visibility, roles):
    settings = worker_settings
    settings.IMAGE_IMPORTER['SERVICE_AUTH'] = short_stack.service_auth()
    with serving(settings, tmp_path, 1) as (url, original):
        request = login(short_stack, 'admin')
        assert {'admin', 'member', 'reader'} <= {
            r['name'] for r in request.user.roles}
        job = submit(request, url, visibility=visibility)

        trust = keystone(short_stack, 'GET',
                         '/OS-TRUST/trusts/%s' % job.trust_id)['trust']
        assert {r['name'] for r in trust['roles']} == roles
        job, _took = run(job)

    assert job.state == ImportJob.ACTIVE, failures.describe(
        job.error_code, job.error_params)
    glance = user_glance(short_stack, 'admin')
    image = glance.images.get(job.image_id)
    assert (image.status, image.visibility, image.owner) == (
        'active', visibility, short_stack.project_ids['admin'])
    glance.images.delete(image.id)
