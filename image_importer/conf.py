"""The importer's settings: one dict, ``IMAGE_IMPORTER``, with defaults here.

Read every value through ``get(name)`` so the defaults live in one place.
"""

import os
import tempfile

from django.conf import settings

DEFAULTS = {
    # Where jobs download and convert; one private subdirectory per job.
    'WORK_DIR': os.path.join(tempfile.gettempdir(), 'image-importer'),
    # URL policy (see image_importer.engine.fetch.UrlPolicy).
    'ALLOWED_SCHEMES': ('http', 'https'),
    'ALLOWED_PORTS': (80, 443),
    'URL_ALLOWLIST': (),
    'CA_BUNDLE': None,
    'CONNECT_TIMEOUT': 10,
    'READ_TIMEOUT': 60,
    'MAX_IMAGE_SIZE': 64 * 1024 ** 3,
    # Fernet key (urlsafe base64, 32 bytes) that encrypts tokens and source
    # credentials at rest; derived from SECRET_KEY when not set.
    'ENCRYPTION_KEY': None,
    # Celery broker; None means the embedded broker (files under
    # STATE_DIR/broker, no server needed, one machine only).
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
