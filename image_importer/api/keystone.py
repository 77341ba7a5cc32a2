"""Keystone: whose authority a job runs on, the user's token or a trust.

Without ``IMAGE_IMPORTER['SERVICE_AUTH']`` a job carries the submitting
user's token (encrypted) and can only finish while that token lives.

With it, ``make_trust`` makes, right after the submit and with the user's
token (``delegation``, read in the request), a Keystone trust from the
user (trustor) to the importer's service user (trustee): the user's
project and only the roles an import needs (``TRUST_ROLES``),
impersonation (Glance sees the user itself, so the image belongs to the
user's project and Glance's policies apply as for the user), expiring at
the job's deadline. The job then keeps only the trust's id, no token.
The worker (``job_session``) logs in as the service user scoped to the
trust, and keystoneauth gets a fresh trust-scoped token whenever the
last one expires, however long the import takes. Keystone refuses those
tokens as soon as the user no longer holds the roles on the project, and
the job fails with ``authorization_lost``.

``release`` deletes the trust when the job ends. Keystone lets the trustor
do that with their own token, and also a token scoped to the trust itself
(its user is the trustor, impersonated), so the worker deletes it too; the
trustee's own token may not. A trust that cannot be deleted (the user lost
the roles, so the trust cannot be used any more either) ends at its expiry.
"""

import datetime
import logging
import random
import typing

from django.conf import settings
from django.utils import timezone
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import generic
from keystoneauth1 import plugin
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from openstack_dashboard.api import keystone as api_keystone

from image_importer import conf
from image_importer import crypto
from image_importer.engine.errors import ImportFailure
from image_importer.models import ImportJob

LOG = logging.getLogger(__name__)

USER_AGENT = 'horizon-image-importer'
# A trust outlives the job's time limit by this much: the job may wait in
# the queue, and Celery's hard limit comes a few minutes after the soft one.
TRUST_MARGIN = 3600
# Seconds of random extra life for a trust (see create_trust).
TRUST_SPREAD = TRUST_MARGIN // 2
# A subscription's trust: ten years, deleted with the subscription.
LASTING_DAYS = 3650
# Keystone refuses two trusts that differ only in their expiry if that is
# the same second: a second submit in the same second takes the next one.
CREATE_ATTEMPTS = 10

# SERVICE_AUTH options that name the service user (a trust-scoped login
# takes these and the trust id, never a project or domain scope).
USER_OPTIONS = ('auth_url', 'username', 'user_id', 'password',
                'user_domain_name', 'user_domain_id')
LOGIN_OPTIONS = USER_OPTIONS + (
    'project_name', 'project_id', 'project_domain_name',
    'project_domain_id', 'domain_name', 'domain_id', 'system_scope')


def enabled():
    """True when the operator configured a service user."""
    return conf.get('SERVICE_AUTH')


def tls_verify():
    """TLS verification for Keystone and Glance, as Horizon's settings say."""
    if getattr(settings, 'OPENSTACK_SSL_NO_VERIFY', False):
        return False
    return getattr(settings, 'OPENSTACK_SSL_CACERT', None) or True


def _options(names):
    configured = conf.get('SERVICE_AUTH') or {}
    return {key: value for key, value in configured.items()
            if key in names and value is not None}


def _service_session(verify, **extra):
    """A session logged in as the service user (scoped as configured, or
    to ``extra``'s trust)."""
    names = USER_OPTIONS if 'trust_id' in extra else LOGIN_OPTIONS
    auth = generic.Password(**_options(names), **extra)
    return ks_session.Session(auth=auth, verify=verify,
                              user_agent=USER_AGENT)


def _service_can_log_in(verify):
    """True if the service user can log in (as configured, no trust)."""
    if not enabled():
        return False
    try:
        _service_session(verify).get_token()
    except (ks_exc.Unauthorized, ks_exc.Forbidden, ks_exc.NotFound,
            ks_exc.BadRequest, ks_exc.MissingRequiredOptions, TypeError):
        return False
    return True


def _service_user_id(verify):
    """The service user's id: ``SERVICE_AUTH['user_id']`` if given, else
    from a login (it may not read the user list), which costs each submit
    a Keystone round trip."""
    configured = (conf.get('SERVICE_AUTH') or {}).get('user_id')
    if configured:
        return configured
    try:
        return _service_session(verify).get_user_id()
    except (ks_exc.ConnectionError, ks_exc.DiscoveryFailure):
        raise ImportFailure('keystone_unreachable')
    except (ks_exc.ClientException, TypeError) as exc:
        # TypeError: an option keystoneauth does not know.
        LOG.warning('The service user in IMAGE_IMPORTER["SERVICE_AUTH"] '
                    'cannot log in: %s', exc)
        raise ImportFailure('service_auth_failed')


def trust_roles(request, visibility='private'):
    """The roles a job's trust delegates: of the user's roles on the
    project, only those an import needs (``TRUST_ROLES``; and
    ``TRUST_ROLES_PUBLIC`` for a public image, which Glance's default
    policy lets only admins make), never every role the user holds."""
    wanted = set(conf.get('TRUST_ROLES'))
    if visibility == 'public':
        wanted |= set(conf.get('TRUST_ROLES_PUBLIC'))
    held = {role['name'] for role in request.user.roles}
    roles = sorted(held & wanted)
    if not roles:
        raise ImportFailure('trust_refused', detail=(
            'you hold none of the roles an import needs on this project '
            '(%s)' % ', '.join(sorted(wanted))))
    return roles


def trust_deadline(now=None):
    """When a trust made now expires (whole seconds, as Keystone keeps)."""
    now = (now or timezone.now()).replace(microsecond=0)
    return now + datetime.timedelta(
        seconds=conf.get('JOB_TIMEOUT') + TRUST_MARGIN)


class Delegation(typing.NamedTuple):
    """What a trust from a user needs, read from their request while it
    lasts: a Keystone client on their token (kept in memory only), who
    they are, and the roles to delegate."""
    client: object
    user_id: str
    project_id: str
    roles: tuple


def delegation(request, visibility='private'):
    """The request user's ``Delegation`` for an import of ``visibility``;
    no Keystone call. ``ImportFailure('trust_refused')`` if they hold none
    of the roles an import needs (``trust_roles``)."""
    return Delegation(client=api_keystone.keystoneclient(request),
                      user_id=request.user.id,
                      project_id=request.user.project_id,
                      roles=tuple(trust_roles(request, visibility)))


def create_trust(request, visibility='private', lasting=False):
    """``make_trust`` for the request's user, now."""
    return make_trust(delegation(request, visibility), lasting=lasting)


def make_trust(delegated, lasting=False):
    """Trust the service user with the user's project and the roles of
    theirs an import needs, impersonated (``delegated``: a
    ``Delegation``).

    ``lasting``: for a subscription, which acts for years, until it is
    deleted (and while the user holds the roles).

    Returns ``(trust_id, expires_at)``. Raises ``ImportFailure``
    (``service_auth_failed``, ``trust_refused``, ``keystone_unreachable``)
    when it cannot be made.
    """
    trustee = _service_user_id(tls_verify())
    # Keystone refuses two identical trusts expiring in the same second:
    # spread the expiry so that submits made together rarely collide.
    expires_at = (timezone.now().replace(microsecond=0) +
                  datetime.timedelta(days=LASTING_DAYS)
                  if lasting else trust_deadline()) + datetime.timedelta(
        seconds=random.randrange(TRUST_SPREAD))
    for attempt in range(CREATE_ATTEMPTS):
        try:
            trust = delegated.client.trusts.create(
                trustee_user=trustee, trustor_user=delegated.user_id,
                project=delegated.project_id,
                role_names=list(delegated.roles), impersonation=True,
                expires_at=expires_at)
        except ks_exc.Conflict:
            if attempt == CREATE_ATTEMPTS - 1:
                raise ImportFailure('trust_refused',
                                    detail='too many at once')
            expires_at += datetime.timedelta(seconds=1)
        except OUTAGES:
            raise Unavailable()
        except ks_exc.HttpError as exc:
            LOG.warning('Keystone refused a trust for user %s: %s',
                        delegated.user_id, exc)
            raise ImportFailure('trust_refused', detail=exc.message)
        else:
            return trust.id, expires_at


def delete_trust(delegated, trust_id):
    """Delete a trust with its trustor's ``Delegation``; never raises."""
    try:
        delegated.client.trusts.delete(trust_id)
    except ks_exc.NotFound:
        pass
    except ks_exc.ClientException as exc:
        LOG.warning('Could not delete trust %s (%s); it expires by itself',
                    trust_id, exc)


class Unavailable(ImportFailure):
    """Keystone cannot answer now: unreachable, or failing (a 5xx, its
    database busy, say). An outage to wait out: the worker sends the job
    back to the queue while it has attempts left."""

    def __init__(self):
        super().__init__('keystone_unreachable')


# What a Keystone that is down or overwhelmed answers.
OUTAGES = (ks_exc.ConnectionError, ks_exc.DiscoveryFailure,
           ks_exc.HttpServerError)


class _TrustPassword(generic.Password):
    """The service user's login scoped to a job's trust, whose refusals
    become the job's failure instead of a retry."""

    def __init__(self, expires, verify, **kwargs):
        super().__init__(**kwargs)
        self._expires = expires
        self._verify = verify

    def get_auth_ref(self, session, **kwargs):
        try:
            return super().get_auth_ref(session, **kwargs)
        except ks_exc.Forbidden:
            # Keystone: the trustor no longer holds the trust's roles.
            raise ImportFailure('authorization_lost') from None
        except ks_exc.Unauthorized:
            raise self._unauthorized() from None
        except ks_exc.NotFound:
            raise ImportFailure('authorization_lost') from None

    def _unauthorized(self):
        """Why Keystone refused the login: the trust expired, the service
        user cannot log in at all, or the trust is gone."""
        if self._expires and timezone.now() >= self._expires:
            return ImportFailure('trust_expired')
        if not _service_can_log_in(self._verify):
            LOG.warning('The service user in IMAGE_IMPORTER["SERVICE_AUTH"] '
                        'cannot log in')
            return ImportFailure('service_auth_failed')
        return ImportFailure('authorization_lost')


class _UserToken(token_endpoint.Token):
    """The user's own token. Glance's 401 means it expired, or, before its
    expiry, that Keystone revoked it (the user lost the project's role)."""

    def __init__(self, endpoint, token, expires):
        super().__init__(endpoint, token)
        self._expires = expires

    def invalidate(self):
        # The session calls this on a 401; the token cannot be renewed.
        if self._expires and timezone.now() < self._expires:
            raise ImportFailure('authorization_lost')
        return False


def trust_session(job, verify=True):
    """A session of the service user scoped to the job's trust."""
    if not enabled():
        raise ImportFailure('service_auth_failed')
    auth = _TrustPassword(expires=job.token_expires, verify=verify,
                          trust_id=job.trust_id, **_options(USER_OPTIONS))
    return ks_session.Session(auth=auth, verify=verify,
                              user_agent=USER_AGENT)


def job_session(job):
    """A session with the job's authority: the trust when it has one
    (checked now, so a job that can no longer act for its user fails
    before it downloads), else the user's token for ``job``'s Glance."""
    if job.trust_id:
        session = trust_session(job, tls_verify())
        try:
            session.get_token()
        except OUTAGES as exc:
            LOG.warning('Import job %s: Keystone cannot answer: %s',
                        job.pk, exc)
            raise Unavailable()
        return session
    auth = _UserToken(job.glance_endpoint, crypto.decrypt(job.auth_token),
                      job.token_expires)
    return ks_session.Session(auth=auth, verify=tls_verify(),
                              user_agent=USER_AGENT)


def _delete_with_trust(job, verify):
    """Delete the trust with a token scoped to it; True when it is gone."""
    session = trust_session(job, verify)
    try:
        session.delete('/OS-TRUST/trusts/%s' % job.trust_id,
                       endpoint_filter={'service_type': 'identity',
                                        'interface': plugin.AUTH_INTERFACE,
                                        'version': (3, 0)})
    except ks_exc.NotFound:
        pass
    return True


def _delete_as_trustor(request, job):
    client = api_keystone.keystoneclient(request)
    try:
        client.trusts.delete(job.trust_id)
    except ks_exc.NotFound:
        pass
    return True


def release(job, request=None):
    """Delete the job's trust, if it has one; never raises.

    With a ``request`` of the trustor, their own token deletes it; else
    (the worker, an admin) a token scoped to the trust does, which works
    while the user still holds the trust's roles. Returns True when the
    job has no trust any more; False leaves it to expire.
    """
    if not job.trust_id:
        return True
    if getattr(job, 'subscription_id', None):
        return True     # the subscription's trust: it goes with it
    ways = []
    if request is not None and request.user.id == job.user_id:
        ways.append(lambda: _delete_as_trustor(request, job))
    if enabled():
        ways.append(lambda: _delete_with_trust(job, tls_verify()))
    for way in ways:
        try:
            way()
        except (ImportFailure, ks_exc.ClientException) as exc:
            LOG.info('Could not delete the trust of job %s (%s)', job.pk,
                     exc)
            continue
        type(job).objects.filter(pk=job.pk, trust_id=job.trust_id).update(
            trust_id='')
        job.trust_id = ''
        LOG.info('Deleted the trust of job %s', job.pk)
        return True
    LOG.warning('The trust of job %s was not deleted; it expires by '
                'itself at the job\'s deadline', job.pk)
    return False


def release_if_finished(job):
    """The worker's last step: delete the trust if the job ended (active,
    failed, cancelled) but not if it goes back to the queue. Never raises."""
    try:
        current = ImportJob.objects.filter(pk=job.pk).values_list(
            'state', 'trust_id').first()
        if current is None or not current[1]:
            return
        if current[0] in ImportJob.END_STATES:
            job.trust_id = current[1]
            release(job)
    except Exception:
        LOG.exception('Releasing the trust of job %s failed', job.pk)
