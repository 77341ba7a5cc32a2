"""Delegation: the trust made at submit, the worker's client, the release.

Keystone is mocked here; tests/integration/test_trusts.py runs the same
code against a real Keystone and Glance.
"""

import datetime
import http.server
import logging
import threading
from unittest import mock

from django.urls import reverse
from django.utils import timezone
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import generic
from openstack_dashboard.test import helpers
import pytest

from image_importer.api import glance as api_glance
from image_importer.api import keystone
from image_importer import crypto
from image_importer.engine.errors import ImportFailure
from image_importer.engine import glance
from image_importer import failures
from image_importer import jobs
from image_importer.models import ImportJob
from tests.unit.dashboards import helpers as dashboard_helpers
from tests.unit.factories import make_job

pytestmark = pytest.mark.django_db

CREATE_URL = reverse('horizon:project:image_imports:create')
SERVICE_AUTH = {'auth_url': 'http://keystone.example.org/v3',
                'username': 'image-importer', 'password': 'svc-s3cret',
                'user_domain_name': 'Default', 'project_name': 'service',
                'project_domain_name': 'Default'}


def later(seconds):
    return timezone.now() + datetime.timedelta(seconds=seconds)


@pytest.fixture
def service_auth(settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   SERVICE_AUTH=SERVICE_AUTH)


# -- submit -----------------------------------------------------------------

class SubmitWithServiceUserTests(dashboard_helpers.TestCase):
    """The workflow's submit, as a user of Horizon's test data."""

    def setUp(self):
        super().setUp()
        patcher = mock.patch('image_importer.worker.tasks.enqueue')
        self.enqueue = patcher.start()
        self.addCleanup(patcher.stop)
        patcher = mock.patch.object(keystone, '_service_user_id',
                                    return_value='svc-user-id')
        self.service_user_id = patcher.start()
        self.addCleanup(patcher.stop)

    def post(self):
        form = {'source_url': 'https://images.example.org/cirros.qcow2',
                'name': 'cirros', 'visibility': 'private'}
        with self.settings(IMAGE_IMPORTER={'SERVICE_AUTH': SERVICE_AUTH}):
            return self.client.post(CREATE_URL, form)

    def submit(self):
        """Post the form; then what runs once it answered (the trust is
        made in a thread of the web process; here, in this one)."""
        with self.captureOnCommitCallbacks() as answered:
            res = self.post()
            self.assertNoWorkflowErrors(res)
            job = ImportJob.objects.get()
            # Answered with no trust yet: the job holds the user's token,
            # encrypted, and is not sent to the worker.
            self.assertEqual('', job.trust_id)
            self.assertEqual(self.token.id, crypto.decrypt(job.auth_token))
            self.assertNotIn(self.token.id, job.auth_token)
            self.mock_keystoneclient.return_value.trusts.create.\
                assert_not_called()
            self.enqueue.assert_not_called()
        with mock.patch.object(jobs, '_in_background',
                               lambda call, *args: call(*args)):
            for call in answered:
                call()
        return ImportJob.objects.get()

    @helpers.create_mocks({helpers.api.keystone: ('keystoneclient',)})
    def test_submit_answers_then_makes_the_trust_and_drops_the_token(self):
        trusts = self.mock_keystoneclient.return_value.trusts
        trusts.create.return_value = mock.Mock(id='trust-1')
        before = timezone.now()

        job = self.submit()

        self.assertEqual('trust-1', job.trust_id)
        self.assertEqual('', job.auth_token)
        self.assertEqual(ImportJob.QUEUED, job.state)
        self.enqueue.assert_called_once_with(job.pk)
        kwargs = trusts.create.call_args.kwargs
        self.assertEqual('svc-user-id', kwargs['trustee_user'])
        self.assertEqual(self.user.id, kwargs['trustor_user'])
        self.assertEqual(self.tenant.id, kwargs['project'])
        self.assertEqual(['member', 'reader'], kwargs['role_names'])
        self.assertIs(True, kwargs['impersonation'])
        # Expires at the job's deadline, in whole seconds; the job knows.
        deadline = kwargs['expires_at']
        self.assertEqual(0, deadline.microsecond)
        lifetime = 24 * 3600 + keystone.TRUST_MARGIN
        extra = (deadline - before).total_seconds() - lifetime
        self.assertTrue(-5 <= extra <= keystone.TRUST_SPREAD + 5, extra)
        self.assertEqual(deadline, job.token_expires)
        self.mock_keystoneclient.assert_called_once_with(
            helpers.IsHttpRequest())

    @helpers.create_mocks({helpers.api.keystone: ('keystoneclient',)})
    def test_a_trust_keystone_refuses_fails_the_job_and_says_why(self):
        trusts = self.mock_keystoneclient.return_value.trusts
        trusts.create.side_effect = ks_exc.Forbidden(
            'not allowed to create trusts')

        job = self.submit()

        self.assertEqual((ImportJob.FAILED, 'trust_refused'),
                         (job.state, job.error_code))
        self.assertIn('Keystone refused to let the importer act for you (',
                      failures.describe(job.error_code, job.error_params))
        self.assertEqual('', job.auth_token)
        self.enqueue.assert_not_called()

    @helpers.create_mocks({helpers.api.keystone: ('keystoneclient',)})
    def test_without_keystone_to_make_the_trust_the_job_runs_on_the_token(
            self):
        trusts = self.mock_keystoneclient.return_value.trusts
        trusts.create.side_effect = ks_exc.ServiceUnavailable()

        job = self.submit()

        self.assertEqual((ImportJob.QUEUED, ''), (job.state, job.trust_id))
        self.assertEqual(self.token.id, crypto.decrypt(job.auth_token))
        self.enqueue.assert_called_once_with(job.pk)

    @helpers.create_mocks({helpers.api.keystone: ('keystoneclient',)})
    def test_a_job_cancelled_before_its_trust_keeps_none(self):
        trusts = self.mock_keystoneclient.return_value.trusts

        def cancel_first(**kwargs):
            jobs.cancel(ImportJob.objects.get())
            return mock.Mock(id='trust-1')
        trusts.create.side_effect = cancel_first

        job = self.submit()

        self.assertEqual((ImportJob.CANCELLED, ''), (job.state, job.trust_id))
        trusts.delete.assert_called_once_with('trust-1')
        self.enqueue.assert_not_called()

    def test_submit_without_service_user_keeps_the_encrypted_token(self):
        with self.settings(IMAGE_IMPORTER={'SERVICE_AUTH': None}):
            self.client.post(CREATE_URL, {
                'source_url': 'https://images.example.org/cirros.qcow2',
                'name': 'cirros', 'visibility': 'private'})

        job = ImportJob.objects.get()
        self.assertEqual('', job.trust_id)
        self.assertEqual(self.token.id, crypto.decrypt(job.auth_token))
        self.service_user_id.assert_not_called()


def fake_request(user_id='u1', project_id='p1'):
    user = mock.Mock(id=user_id, project_id=project_id,
                     roles=[{'name': 'reader'}, {'name': 'member'},
                            {'name': 'member'}])
    return mock.Mock(user=user)


@pytest.fixture
def keystoneclient():
    with mock.patch.object(keystone.api_keystone,
                           'keystoneclient') as factory:
        yield factory.return_value


def test_same_second_trusts_take_the_next_second(service_auth,
                                                 keystoneclient):
    keystoneclient.trusts.create.side_effect = [
        ks_exc.Conflict(), ks_exc.Conflict(), mock.Mock(id='t3')]
    with mock.patch.object(keystone, '_service_user_id',
                           return_value='svc'):
        trust_id, expires = keystone.create_trust(fake_request())

    assert trust_id == 't3'
    tried = [call.kwargs['expires_at']
             for call in keystoneclient.trusts.create.call_args_list]
    assert [(t - tried[0]).total_seconds() for t in tried] == [0, 1, 2]
    assert expires == tried[-1]
    assert keystoneclient.trusts.create.call_args.kwargs['role_names'] == [
        'member', 'reader']


def test_service_user_that_cannot_log_in_fails_the_submit_quietly(
        service_auth, keystoneclient, caplog):
    with mock.patch.object(
            generic.Password, 'get_auth_ref',
            side_effect=ks_exc.Unauthorized('wrong password')), \
            caplog.at_level(logging.DEBUG):
        with pytest.raises(ImportFailure) as failure:
            keystone.create_trust(fake_request())

    assert failure.value.code == 'service_auth_failed'
    keystoneclient.trusts.create.assert_not_called()
    assert 'cannot log in' in caplog.text
    assert SERVICE_AUTH['password'] not in caplog.text


def test_a_configured_service_user_id_saves_the_login(
        service_auth, keystoneclient, settings):
    settings.IMAGE_IMPORTER = dict(
        settings.IMAGE_IMPORTER,
        SERVICE_AUTH=dict(SERVICE_AUTH, user_id='svc-id'))
    with mock.patch.object(generic.Password, 'get_auth_ref') as login:
        keystone.create_trust(fake_request())

    login.assert_not_called()
    assert keystoneclient.trusts.create.call_args.kwargs[
        'trustee_user'] == 'svc-id'


def test_unreachable_keystone_at_submit(service_auth, keystoneclient):
    with mock.patch.object(keystone, '_service_user_id',
                           return_value='svc'):
        keystoneclient.trusts.create.side_effect = ks_exc.ConnectFailure()
        with pytest.raises(ImportFailure) as failure:
            keystone.create_trust(fake_request())

    assert failure.value.code == 'keystone_unreachable'


# -- the worker's client -----------------------------------------------------

def trust_auth(expires):
    return keystone._TrustPassword(
        expires=expires, verify=True, trust_id='t1',
        **keystone._options(keystone.USER_OPTIONS))


def refused(exc):
    return mock.patch.object(generic.Password, 'get_auth_ref',
                             side_effect=exc)


def test_trust_login_takes_only_the_users_options(service_auth):
    auth = trust_auth(later(60))
    assert auth._trust_id == 't1'
    assert auth._project_name is None
    assert auth._username == 'image-importer'


def test_trust_refused_for_missing_roles_is_authorization_lost(
        service_auth):
    with refused(ks_exc.Forbidden()), pytest.raises(ImportFailure) as exc:
        trust_auth(later(60)).get_auth_ref(mock.Mock())
    assert exc.value.code == 'authorization_lost'


def test_trust_refused_after_its_expiry_is_trust_expired(service_auth):
    with refused(ks_exc.Unauthorized()), \
            pytest.raises(ImportFailure) as exc:
        trust_auth(later(-1)).get_auth_ref(mock.Mock())
    assert exc.value.code == 'trust_expired'


def test_trust_refused_while_the_service_user_logs_in_is_lost(
        service_auth):
    with refused(ks_exc.Unauthorized()), \
            mock.patch.object(keystone, '_service_can_log_in',
                              return_value=True), \
            pytest.raises(ImportFailure) as exc:
        trust_auth(later(60)).get_auth_ref(mock.Mock())
    assert exc.value.code == 'authorization_lost'


def test_service_user_that_cannot_log_in_is_the_operators_problem(
        service_auth):
    with refused(ks_exc.Unauthorized()), \
            pytest.raises(ImportFailure) as exc:
        trust_auth(later(60)).get_auth_ref(mock.Mock())
    assert exc.value.code == 'service_auth_failed'


def test_trust_job_checks_its_authority_before_it_downloads(service_auth):
    job = make_job(trust_id='t1', token_expires=later(3600))
    with refused(ks_exc.Forbidden()), pytest.raises(ImportFailure) as exc:
        api_glance.job_client(job)
    assert exc.value.code == 'authorization_lost'

    with refused(ks_exc.ConnectFailure()), \
            pytest.raises(ImportFailure) as exc:
        api_glance.job_client(job)
    assert exc.value.code == 'keystone_unreachable'


@pytest.mark.parametrize('outage', [
    ks_exc.InternalServerError(), ks_exc.ServiceUnavailable(),
    ks_exc.GatewayTimeout(), ks_exc.ConnectFailure(),
    ks_exc.ConnectTimeout()])
def test_keystone_that_cannot_answer_at_job_start_is_passing(
        service_auth, outage):
    """A Keystone that fails (a 5xx: its database busy, say) or cannot be
    reached is an outage to wait out, not the job's failure."""
    job = make_job(trust_id='t1', token_expires=later(3600))
    with refused(outage), pytest.raises(keystone.Unavailable) as exc:
        api_glance.job_client(job)
    assert exc.value.code == 'keystone_unreachable'


def test_trust_job_without_service_user_configured(settings):
    job = make_job(trust_id='t1', token_expires=later(3600))
    with pytest.raises(ImportFailure) as exc:
        api_glance.job_client(job)
    assert exc.value.code == 'service_auth_failed'


def test_trust_job_client_talks_to_the_jobs_glance(service_auth,
                                                   settings):
    settings.OPENSTACK_SSL_CACERT = '/ca.pem'
    job = make_job(trust_id='t1', token_expires=later(3600))
    with mock.patch.object(keystone.ks_session.Session,
                           'get_token') as get_token:
        client = api_glance.job_client(job)
    get_token.assert_called_once_with()
    session = client.http_client.session
    assert client.http_client.endpoint_override == job.glance_endpoint
    assert isinstance(session.auth, keystone._TrustPassword)
    assert session.auth._trust_id == 't1'
    assert session.verify == '/ca.pem'


class Answer401(http.server.BaseHTTPRequestHandler):
    """A Glance that refuses every token, as when it expired or was
    revoked."""

    def do_GET(self):
        self.send_response(401)
        self.send_header('Content-Length', '0')
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format, *args):  # noqa: A002 - stdlib's name
        pass


@pytest.fixture
def refusing_glance():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Answer401)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize('expires_in, code', [
    (-5, 'token_expired'),          # it expired: the login ran out
    (3600, 'authorization_lost'),   # refused before its expiry: revoked
])
def test_refused_user_token_says_expired_or_revoked(
        refusing_glance, tmp_path, expires_in, code):
    job = make_job(glance_endpoint=refusing_glance,
                   auth_token=crypto.encrypt('user-token'),
                   token_expires=later(expires_in))
    client = api_glance.job_client(job)
    data = tmp_path / 'disk'
    data.write_bytes(b'x')

    with pytest.raises(ImportFailure) as exc:
        glance.upload(client, {'name': 'x'}, str(data), 1,
                      lambda done, total: None, lambda image_id: None)

    assert exc.value.code == code


# -- the end: deleting the trust ---------------------------------------------


def test_release_as_the_trustor_uses_their_own_token(keystoneclient):
    job = make_job(trust_id='t1', user_id='u1', state=ImportJob.FAILED)

    assert keystone.release(job, fake_request(user_id='u1')) is True

    keystoneclient.trusts.delete.assert_called_once_with('t1')
    assert ImportJob.objects.get(pk=job.pk).trust_id == ''


def test_release_by_another_user_uses_the_trust_itself(service_auth,
                                                       keystoneclient):
    job = make_job(trust_id='t1', user_id='u1', state=ImportJob.FAILED,
                   token_expires=later(3600))
    with mock.patch.object(keystone.ks_session.Session,
                           'delete') as delete:
        assert keystone.release(job, fake_request(user_id='admin'))

    keystoneclient.trusts.delete.assert_not_called()
    path = delete.call_args.args[0]
    assert path == '/OS-TRUST/trusts/t1'
    assert ImportJob.objects.get(pk=job.pk).trust_id == ''


def test_release_that_keystone_refuses_leaves_the_trust_to_expire(
        service_auth, caplog):
    job = make_job(trust_id='t1', state=ImportJob.FAILED,
                   token_expires=later(3600))
    with refused(ks_exc.Forbidden()):
        assert keystone.release(job) is False

    assert ImportJob.objects.get(pk=job.pk).trust_id == 't1'
    assert 'expires by itself' in caplog.text


def test_release_of_a_trust_already_gone(keystoneclient):
    keystoneclient.trusts.delete.side_effect = ks_exc.NotFound()
    job = make_job(trust_id='t1', user_id='u1')

    assert keystone.release(job, fake_request(user_id='u1')) is True
    assert ImportJob.objects.get(pk=job.pk).trust_id == ''


@pytest.mark.parametrize('state, released', [
    (ImportJob.ACTIVE, True), (ImportJob.FAILED, True),
    (ImportJob.CANCELLED, True),
    (ImportJob.QUEUED, False),       # requeued: its next run needs it
    (ImportJob.UPLOADING, False),
])
def test_worker_releases_the_trust_only_when_the_job_ended(state, released):
    job = make_job(trust_id='t1', state=state)
    with mock.patch.object(keystone, 'release') as release:
        keystone.release_if_finished(job)
    assert release.called is released


def test_worker_release_never_raises(caplog):
    job = make_job(trust_id='t1', state=ImportJob.ACTIVE)
    with mock.patch.object(keystone, 'release',
                           side_effect=RuntimeError('boom')):
        keystone.release_if_finished(job)
    assert 'Releasing the trust of job' in caplog.text


def test_cancel_of_a_queued_job_releases_its_trust():
    queued = make_job(trust_id='t1')
    running = make_job(trust_id='t2', state=ImportJob.DOWNLOADING)
    with mock.patch.object(keystone, 'release') as release:
        jobs.cancel(queued)
        jobs.cancel(running)
    # The worker releases a running job's trust after it cleaned up
    # (it may have to delete a half-made image with it).
    release.assert_called_once_with(queued)


def test_delete_releases_a_trust_left_behind():
    job = make_job(trust_id='t1', state=ImportJob.FAILED)
    request = fake_request()
    with mock.patch.object(keystone, 'release') as release:
        jobs.delete(request, job)
    release.assert_called_once_with(job, request)
    assert not ImportJob.objects.filter(pk=job.pk).exists()


def admin_request():
    user = mock.Mock(id='u1', project_id='p1', roles=[
        {'name': 'admin'}, {'name': 'manager'}, {'name': 'member'},
        {'name': 'reader'}, {'name': 'load-balancer_admin'}])
    return mock.Mock(user=user)


@pytest.mark.parametrize('visibility, roles', [
    ('private', ['member', 'reader']),
    ('shared', ['member', 'reader']),
    ('community', ['member', 'reader']),
    ('public', ['admin', 'member', 'reader']),
])
def test_a_trust_delegates_only_the_roles_an_import_needs(
        service_auth, keystoneclient, visibility, roles):
    keystoneclient.trusts.create.return_value = mock.Mock(id='t1')
    with mock.patch.object(keystone, '_service_user_id',
                           return_value='svc'):
        keystone.create_trust(admin_request(), visibility)

    assert keystoneclient.trusts.create.call_args.kwargs[
        'role_names'] == roles


def test_a_user_without_the_roles_an_import_needs_gets_no_trust(
        service_auth, keystoneclient, settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   TRUST_ROLES=('image_uploader',))
    with pytest.raises(ImportFailure) as refused:
        keystone.create_trust(admin_request())

    assert refused.value.code == 'trust_refused'
    assert 'image_uploader' in refused.value.params['detail']
    keystoneclient.trusts.create.assert_not_called()
