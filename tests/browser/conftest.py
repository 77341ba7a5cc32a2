import os
import sys
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tools import dashboard
from tools import stack as stack_tool
from tools.fileserver import FileServer

ARTIFACTS = Path(__file__).resolve().parents[2] / 'artifacts' / 'browser'
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                 '--disable-background-networking',
                 '--disable-component-update', '--disable-sync',
                 '--no-first-run', '--disable-quic']


@pytest.fixture(scope='session')
def samples(tmp_path_factory):
    # Throttled so that a person (and the test) sees the import progress.
    with FileServer(tmp_path_factory.mktemp('browser-samples'),
                    rate=4 * 1024 * 1024) as server:
        yield server


@pytest.fixture(scope='session')
def horizon(stack, samples):
    """Horizon with the plugin and the Celery worker, as in the demo."""
    state = tempfile.mkdtemp(prefix='hii-test-dashboard-')
    instance = dashboard.Dashboard(
        sys.prefix, state, stack.keystone_url, port=stack_tool.free_port(),
        url_allowlist=['127.0.0.1:%d' % samples.port])
    with instance:
        yield instance


@pytest.fixture(scope='session')
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix='hii-chromium-')
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={'width': 1400, 'height': 900})
        try:
            yield context
        finally:
            context.close()
    os.system('rm -rf %s' % profile)


def login(page, horizon, user, password):
    page.goto(horizon.url + '/auth/login/')
    page.fill('#id_username', user)
    page.fill('#id_password', password)
    page.click('#loginBtn')
    page.wait_for_url('**/project/image_imports/')
