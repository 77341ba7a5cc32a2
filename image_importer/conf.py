"""The importer's settings: one dict, ``IMAGE_IMPORTER``, with defaults here.

Read every value through ``get(name)`` so the defaults, and the type of
each value, live in one place.
"""

import logging
import os
import stat
import tempfile
import urllib.parse

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from image_importer.engine import fetch
from image_importer.engine import provenance

LOG = logging.getLogger(__name__)

DEFAULTS = {
    # The workflow's default "Format": '' keeps the detected
    # format; e.g. 'raw' on a Ceph-backed cloud.
    'DEFAULT_DISK_FORMAT': '',
    # Where jobs download and convert; one private subdirectory per job.
    # WORK_DIR and STATE_DIR are private: see private_dir() below.
    'WORK_DIR': os.path.join(tempfile.gettempdir(),
                             'image-importer-%d' % os.geteuid()),
    # URL policy (see image_importer.engine.fetch.UrlPolicy).
    'ALLOWED_SCHEMES': ('http', 'https'),
    'ALLOWED_PORTS': (80, 443),
    'URL_ALLOWLIST': (),
    'CA_BUNDLE': None,
    # Outgoing proxy for downloads (http://host:port); environment proxy
    # variables are never used.
    'PROXY_URL': None,
    'CONNECT_TIMEOUT': 10,
    # Check URL runs in the dashboard's own threads: at most this many
    # seconds in all (redirects included), and at most CHECK_URL_RATE[0]
    # checks per user every CHECK_URL_RATE[1] seconds.
    'CHECK_URL_DEADLINE': 15,
    'CHECK_URL_RATE': (10, 60),
    'READ_TIMEOUT': 60,
    'MAX_IMAGE_SIZE': 64 * 1024 ** 3,
    # Largest disk (as the guest sees it) an image may describe.
    'MAX_VIRTUAL_SIZE': 4 * 1024 ** 4,
    # Free space every job leaves on WORK_DIR's file system.
    'WORK_DIR_RESERVE': 1024 ** 3,
    # What a failed or cancelled job downloaded stays this many seconds,
    # so that the next import of the same URL in the project (a retry)
    # continues it where the server allows (0: never kept).
    'KEEP_PARTIAL_DOWNLOADS': 24 * 3600,
    # A dropped download resumes (HTTP Range) this many times.
    'DOWNLOAD_RETRIES': 5,
    # A download slower than DOWNLOAD_MIN_RATE bytes/s over
    # DOWNLOAD_RATE_WINDOW seconds, or longer than DOWNLOAD_DEADLINE
    # seconds, fails.
    'DOWNLOAD_DEADLINE': 24 * 3600,
    'DOWNLOAD_MIN_RATE': 1024,
    'DOWNLOAD_RATE_WINDOW': 120,
    # Fernet key (urlsafe base64, 32 bytes) that encrypts tokens and source
    # credentials at rest; derived from SECRET_KEY when not set.
    'ENCRYPTION_KEY': None,
    # Celery broker; None means the embedded broker (a SQLite file under
    # STATE_DIR, no server needed, one machine only).
    'BROKER_URL': None,
    'BROKER_TRANSPORT_OPTIONS': {},
    'STATE_DIR': os.path.join(tempfile.gettempdir(),
                              'image-importer-state-%d' % os.geteuid()),
    # A running job's lease; renewed with every progress write, and every
    # HEARTBEAT_SECONDS whatever the job is doing. The heartbeat also
    # notices a cancel and stops the job's run (0: progress writes only).
    'LEASE_SECONDS': 300,
    'HEARTBEAT_SECONDS': 3.0,
    # How often a running job writes its progress.
    'PROGRESS_INTERVAL': 1.0,
    # A queued job not picked up for this long has its message sent again.
    'REQUEUE_AFTER': 60,
    'SWEEP_INTERVAL': 30,
    # A worker lost this many times (killed, out of memory) fails the job.
    'MAX_ATTEMPTS': 3,
    # The longest a job may run, in seconds: Celery's soft time limit (the
    # job fails with a message); the hard limit is a few minutes later.
    # Also the lifetime of the job's trust.
    'JOB_TIMEOUT': 24 * 3600,
    # A failed upload (Glance 5xx, connection reset) is tried again this
    # many times, waiting UPLOAD_RETRY_DELAY seconds, doubled each time.
    'UPLOAD_RETRIES': 4,
    'UPLOAD_RETRY_DELAY': 2.0,
    # Start the upload while the download goes on when the image goes to
    # Glance in its own format; its last bytes wait for every check, and a
    # failed job deletes the image. One whose authority is lost mid-way
    # (role removed) cannot: its failure names the image, and "Delete
    # Import and Image" (the user's or an admin's) removes it.
    'OVERLAP_UPLOAD': True,
    # Overlap the upload also for an image checked against a checksum
    # (typed or found): faster, but a mismatch is then found after bytes
    # reached Glance (the unfinished image is deleted). Off, nothing of
    # such an image reaches Glance before its checksum matched.
    'OVERLAP_VERIFIED_UPLOAD': False,
    # Look beside each image for the checksum files its publisher put
    # there (SHA256SUMS, CHECKSUM, ...) when the user gives none.
    'FIND_CHECKSUMS': True,
    # A folder of the OpenPGP public keys this cloud trusts to sign
    # checksum files (gpg --export [--armor] of each publisher's key).
    'TRUSTED_KEYS_DIR': None,
    # Hosts whose images must come with a checksum file signed by a
    # trusted key ('*': every host); an import without one fails.
    'REQUIRE_SIGNATURE': (),
    # Subscriptions: how often beat looks for those due (seconds), the
    # shortest interval a user may choose, and how many failures in a row
    # stop one until a person resumes it.
    'SUBSCRIPTION_CHECK_INTERVAL': 60,
    'SUBSCRIPTION_MIN_INTERVAL': 3600,
    'SUBSCRIPTION_MAX_FAILURES': 3,
    # Limits on jobs; 0 means no limit. A submit over a queued limit is
    # refused with a message; a job over a running limit waits its turn.
    'MAX_RUNNING_PER_PROJECT': 2,
    'MAX_RUNNING_TOTAL': 0,
    'MAX_QUEUED_PER_PROJECT': 20,
    'MAX_QUEUED_TOTAL': 0,
    # A Keystone service user for jobs that outlive the user's token:
    # keystoneauth password options (auth_url, username, password,
    # user_domain_name, project_name, project_domain_name). With it, each
    # submit makes a Keystone trust from the user to this user (the user's
    # project and roles, impersonated, expiring JOB_TIMEOUT + 1 h later),
    # the job keeps no token, and the worker logs in as this user scoped
    # to the trust, with fresh tokens however long the job runs; the trust
    # is deleted when the job ends (image_importer.api.keystone). Using a
    # trust needs no role of the service user's own; the web and the
    # worker hosts both use this setting. Without it, a job runs on the
    # user's token and fails when that expires.
    'SERVICE_AUTH': None,
    # The roles a job's trust delegates, of those the user holds on the
    # project: what creating and uploading an image needs in Glance's
    # default policy. TRUST_ROLES_PUBLIC are added for a public image
    # (Glance's publicize_image is admin only by default).
    'TRUST_ROLES': ('member', 'reader'),
    'TRUST_ROLES_PUBLIC': ('admin',),
}


def get(name):
    """The setting ``name``, of its default's type: the operator's value,
    or the default. A number may be given as any number (or its text); a
    whole number where the default is an int comes back an int. A list
    comes back a tuple where the default is one, a flag a bool. A value
    that is none of these is ``ImproperlyConfigured``, naming it."""
    default = DEFAULTS[name]
    value = getattr(settings, 'IMAGE_IMPORTER', {}).get(name, default)
    try:
        if isinstance(default, bool):
            return bool(value)
        if isinstance(default, (int, float)):
            number = float(value)
            if isinstance(default, int) and number.is_integer():
                return int(number)
            return number
        if isinstance(default, tuple):
            return tuple(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(
            'IMAGE_IMPORTER[%r] = %r: %s expected, as its default %r' % (
                name, value, _KINDS.get(type(default), 'a value'), default))
    return value


_KINDS = {bool: 'True or False', int: 'a number', float: 'a number',
          tuple: 'a list'}


def private_dir(name):
    """The folder of setting ``name`` (``WORK_DIR``, ``STATE_DIR``), made
    private: created with mode 0700 if missing; an existing one must be a
    folder (not a symbolic link) of the user this process runs as, and is
    made 0700 if others could read or write it. Raises
    ``ImproperlyConfigured`` otherwise: someone else's folder in a shared
    place (such as /tmp) could hand the worker planted files, and Celery
    beat's schedule file there is a pickle."""
    path = os.path.abspath(get(name))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    found = os.lstat(path)
    if not stat.S_ISDIR(found.st_mode):
        raise ImproperlyConfigured(
            'IMAGE_IMPORTER[%r] = %r is not a folder (a symbolic link or a '
            'file): give a folder of its own to the user the importer runs '
            'as.' % (name, path))
    if found.st_uid != os.geteuid():
        raise ImproperlyConfigured(
            'IMAGE_IMPORTER[%r] = %r belongs to user id %d, not to the user '
            'the importer runs as (%d): make it theirs (chown) or choose '
            'another folder.' % (name, path, found.st_uid, os.geteuid()))
    if found.st_mode & 0o077:
        LOG.warning('%s %s could be read or written by others; made it '
                    'private (mode 0700)', name, path)
        os.chmod(path, 0o700)
    return path


def checksum_policy(url, find=True):
    """The operator's checksum policy (``engine.provenance.Policy``) for
    an import from ``url``; ``find``: the user's choice to look for the
    publisher's checksum (the operator's ``FIND_CHECKSUMS`` comes first)."""
    return provenance.Policy(
        find=get('FIND_CHECKSUMS') and find,
        trusted_keys=get('TRUSTED_KEYS_DIR'),
        require_signature=signature_required(url))


def signature_required(url):
    """Whether the operator requires a signed checksum file for images
    from ``url``'s host (``REQUIRE_SIGNATURE``)."""
    host = (urllib.parse.urlsplit(url).hostname or '').lower()
    required = {name.lower() for name in get('REQUIRE_SIGNATURE')}
    return '*' in required or host in required


def url_policy(**overrides):
    """The operator's URL policy (engine.fetch.UrlPolicy)."""
    values = dict(
        schemes=get('ALLOWED_SCHEMES'),
        ports=get('ALLOWED_PORTS'),
        allow=get('URL_ALLOWLIST'),
        ca_bundle=get('CA_BUNDLE'),
        proxy=get('PROXY_URL'),
        connect_timeout=get('CONNECT_TIMEOUT'),
        read_timeout=get('READ_TIMEOUT'))
    values.update(overrides)
    return fetch.UrlPolicy(**values)
