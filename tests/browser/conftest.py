import sys

import pytest
from playwright.sync_api import sync_playwright

from tests.browser.helpers import ARTIFACTS
from tools import dashboard
from tools import stack as stack_tool
from tools.fileserver import FileServer

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
def horizon(stack, samples, tmp_path_factory):
    """Horizon with the plugin and the Celery worker, as in the demo."""
    state = tmp_path_factory.mktemp('dashboard')
    instance = dashboard.Dashboard(
        sys.prefix, state, stack.keystone_url, port=stack_tool.free_port(),
        url_allowlist=['127.0.0.1:%d' % samples.port],
        importer={'REQUEUE_AFTER': 2, 'SWEEP_INTERVAL': 2})
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


@pytest.fixture(scope='session')
def browser():
    """Debian's Chromium; Playwright gives it a temporary profile and
    removes it on close."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM,
                                      headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A page in a fresh context (no cookies): each test logs in itself."""
    context = browser.new_context(viewport={'width': 1400, 'height': 900})
    try:
        yield context.new_page()
    finally:
        context.close()
