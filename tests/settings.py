"""Settings for the view tests: Horizon's test settings plus this plugin."""

import os

from openstack_dashboard.test.settings import *  # noqa: F401,F403

import openstack_dashboard.enabled
from openstack_dashboard.utils import settings as settings_utils

import enabled as importer_enabled

settings_utils.update_dashboards(
    [openstack_dashboard.enabled, importer_enabled],
    HORIZON_CONFIG,  # noqa: F405
    INSTALLED_APPS,  # noqa: F405
)
# update_dashboards adds the built-in panels' apps a second time.
INSTALLED_APPS = list(dict.fromkeys(INSTALLED_APPS))  # noqa: F405

PASSWORD_HASHERS = ['django.contrib.auth.hashers.MD5PasswordHasher']
# One page of Horizon's puts hundreds of compressor entries in the cache:
# past the local-memory cache's 300, it culls the oldest, such as the
# per-user count of URL checks.
CACHES = {'default': {
    'BACKEND': 'django.core.cache.backends.locmem.LocMemCache',
    'OPTIONS': {'MAX_ENTRIES': 100000}}}
IMAGE_IMPORTER = {
    'BROKER_URL': 'memory://',
    # Jobs run in-process here, inside the test's transaction, which the
    # heartbeat's own connection cannot see. Its tests (and the browser
    # tests' real workers) run it against committed rows.
    'HEARTBEAT_SECONDS': 0,
}
# The job store's tests also run on the production databases:
# HII_TEST_DATABASE=postgresql or mysql (MariaDB), on loopback.
DATABASES = {'default': {
    'sqlite': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'},
    'postgresql': {'ENGINE': 'django.db.backends.postgresql',
                   'NAME': 'test', 'USER': 'postgres', 'HOST': '127.0.0.1'},
    'mysql': {'ENGINE': 'django.db.backends.mysql', 'NAME': 'test',
              'USER': 'root', 'HOST': '127.0.0.1',
              'OPTIONS': {'charset': 'utf8mb4'}},
}[os.environ.get('HII_TEST_DATABASE', 'sqlite')]}
