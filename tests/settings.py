"""Settings for the view tests: Horizon's test settings plus this plugin."""

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
IMAGE_IMPORTER = {
    'BROKER_URL': 'memory://',
}
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3',
                         'NAME': ':memory:'}}
