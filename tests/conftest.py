"""Shared fixtures: the real Keystone + Glance stack and a sample server."""

import os
import subprocess
import sys

from glanceclient import client as glance_client
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from playwright.sync_api import sync_playwright
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.browser.helpers import ARTIFACTS  # noqa: E402
from tools.signing import Publisher  # noqa: E402
from tools import stack as stack_tool  # noqa: E402


CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                 '--disable-background-networking',
                 '--disable-component-update', '--disable-sync',
                 '--no-first-run', '--disable-quic']

# Glance's largest image in the tests' stack, so that going over it is
# cheap to test; every other test's image is far smaller.
GLANCE_IMAGE_SIZE_CAP = 400 * 1024 * 1024


@pytest.fixture(scope='session')
def stack(tmp_path_factory):
    """A real Keystone 30 + Glance 33 on free loopback ports, state in a
    temp dir; stopped (every process) at the end of the session."""
    state = tmp_path_factory.mktemp('stack')
    with stack_tool.Stack(state, keystone_port=stack_tool.free_port(),
                          glance_port=stack_tool.free_port(),
                          glance_options={'DEFAULT': {
                              'image_size_cap': GLANCE_IMAGE_SIZE_CAP}},
                          ) as running:
        yield running


@pytest.fixture(scope='session')
def demo_session(stack):
    auth = v3.Password(auth_url=stack.keystone_url, username='demo',
                       password='demo', user_domain_id='default',
                       project_name='demo', project_domain_id='default')
    return ks_session.Session(auth=auth)


@pytest.fixture(scope='session')
def demo_glance(demo_session):
    return glance_client.Client('2', session=demo_session)


@pytest.fixture
def small_tmpfs(tmp_path):
    """``small_tmpfs(size)``: a new folder with a tmpfs of ``size`` (as
    mount's ``size=``) on it, unmounted at the end (the suite runs as
    root, as CI does)."""
    if os.geteuid() != 0:
        pytest.fail('this test mounts a tmpfs: run the suite as root')
    mounted = []

    def mount(size):
        mountpoint = tmp_path / ('tmpfs-%d' % len(mounted))
        mountpoint.mkdir()
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=' + size,
                        'tmpfs', str(mountpoint)], check=True)
        mounted.append(mountpoint)
        return mountpoint

    yield mount
    for mountpoint in mounted:
        subprocess.run(['umount', str(mountpoint)], check=True)


# One Playwright (it allows one sync instance at a time) for every test
# that drives the browser: tests/browser and tests/operator.
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


def _fresh_page(browser, width, height):
    context = browser.new_context(viewport={'width': width,
                                            'height': height})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser):
    """A page in a fresh context (no cookies): each test logs in itself."""
    yield from _fresh_page(browser, 1400, 900)


@pytest.fixture
def small_page(browser):
    """The same, the size of a small laptop's screen."""
    yield from _fresh_page(browser, 1280, 800)


@pytest.fixture(scope='session')
def publisher(tmp_path_factory):
    """A distribution's signing key, as its release team has one; the
    tests' clouds trust it."""
    with Publisher(tmp_path_factory.mktemp('gpg') / 'home',
                   'Test Cloud Images <images@example.org>') as key:
        yield key


@pytest.fixture(scope='session')
def stranger(tmp_path_factory):
    """A signing key no test cloud trusts."""
    with Publisher(tmp_path_factory.mktemp('gpg') / 'home',
                   'Someone Else <else@example.org>') as key:
        yield key
