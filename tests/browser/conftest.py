"""Horizon with the plugin, and a sample server, for the browser tests
(the browser itself is in tests/conftest.py, shared with tests/operator)."""

import sys

import pytest

from tools import dashboard
from tools.fileserver import FileServer
from tools import stack as stack_tool


@pytest.fixture(scope='session')
def samples(tmp_path_factory):
    # Throttled so that a person (and the test) sees the import progress;
    # folders listed, as on a distribution's mirror.
    with FileServer(tmp_path_factory.mktemp('browser-samples'),
                    rate=4 * 1024 * 1024, listing=True) as server:
        yield server


@pytest.fixture(scope='session')
def horizon(stack, samples, publisher, tmp_path_factory):
    """Horizon with the plugin and the Celery worker, as in the demo (its
    cloud trusts the samples' signing key)."""
    state = tmp_path_factory.mktemp('dashboard')
    keys = publisher.export(str(state / 'trusted-keys'), armor=True)
    instance = dashboard.Dashboard(
        sys.prefix, state, stack.keystone_url, port=stack_tool.free_port(),
        url_allowlist=['127.0.0.1:%d' % samples.port],
        importer={'REQUEUE_AFTER': 2, 'SWEEP_INTERVAL': 2,
                  'TRUSTED_KEYS_DIR': keys,
                  # As in the demo: jobs and subscriptions act through
                  # trusts to the service user.
                  'SERVICE_AUTH': stack.service_auth(),
                  'SUBSCRIPTION_CHECK_INTERVAL': 2})
    with instance:
        yield instance


@pytest.fixture
def material_horizon(stack, samples, tmp_path):
    """A second Horizon whose default theme is Material (with DEBUG off
    Horizon caches templates per process, so a theme cookie alone does
    not switch them)."""
    instance = dashboard.Dashboard(
        sys.prefix, tmp_path, stack.keystone_url,
        port=stack_tool.free_port(),
        url_allowlist=['127.0.0.1:%d' % samples.port],
        extra_settings="DEFAULT_THEME = 'material'\n")
    with instance:
        yield instance
