"""The importer's settings: one dict, ``IMAGE_IMPORTER``, with defaults here.

Read every value through ``get(name)`` so the defaults live in one place.
"""

import os
import tempfile

from django.conf import settings

DEFAULTS = {
    # The workflow's default "Format in Glance": '' keeps the detected
    # format; e.g. 'raw' on a Ceph-backed cloud.
    'DEFAULT_DISK_FORMAT': '',
    # Where jobs download and convert; one private subdirectory per job.
    'WORK_DIR': os.path.join(tempfile.gettempdir(), 'image-importer'),
    # URL policy (see image_importer.engine.fetch.UrlPolicy).
    'ALLOWED_SCHEMES': ('http', 'https'),
    'ALLOWED_PORTS': (80, 443),
    'URL_ALLOWLIST': (),
    'CA_BUNDLE': None,
    # Outgoing proxy for downloads (http://host:port); environment proxy
    # variables are never used.
    'PROXY_URL': None,
    'CONNECT_TIMEOUT': 10,
    'READ_TIMEOUT': 60,
    'MAX_IMAGE_SIZE': 64 * 1024 ** 3,
    # Largest disk (as the guest sees it) an image may describe.
    'MAX_VIRTUAL_SIZE': 4 * 1024 ** 4,
    # Free space every job leaves on WORK_DIR's file system.
    'WORK_DIR_RESERVE': 1024 ** 3,
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
    'STATE_DIR': os.path.join(tempfile.gettempdir(), 'image-importer-state'),
    # A running job's lease; renewed with every progress write.
    'LEASE_SECONDS': 300,
    # How often a running job writes its progress.
    'PROGRESS_INTERVAL': 1.0,
    # A queued job not picked up for this long has its message sent again.
    'REQUEUE_AFTER': 60,
    'SWEEP_INTERVAL': 30,
}


def get(name):
    return getattr(settings, 'IMAGE_IMPORTER', {}).get(name, DEFAULTS[name])


def url_policy(**overrides):
    """The operator's URL policy (engine.fetch.UrlPolicy)."""
    from image_importer.engine import fetch

    values = dict(
        schemes=tuple(get('ALLOWED_SCHEMES')),
        ports=tuple(get('ALLOWED_PORTS')),
        allow=tuple(get('URL_ALLOWLIST')),
        ca_bundle=get('CA_BUNDLE'),
        proxy=get('PROXY_URL'),
        connect_timeout=float(get('CONNECT_TIMEOUT')),
        read_timeout=float(get('READ_TIMEOUT')))
    values.update(overrides)
    return fetch.UrlPolicy(**values)
