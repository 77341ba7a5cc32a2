"""The package as an operator installs it: built with ``python -m build``,
installed by name from the wheel into a new virtualenv with Horizon 27
(never editable, never from the source tree), enabled, migrated, its
static files collected and compressed with ``DEBUG = False``, served by
gunicorn behind nginx with the worker beside it, then used through the
form on the real Keystone + Glance; and upgraded from the previous
commit's wheel with its jobs kept."""

import hashlib
import json
import os
from pathlib import Path
import re
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile

import pytest

from tests.browser.helpers import ARTIFACTS
from tests.browser.helpers import login
from tests.browser.helpers import status_cell
from tests.browser.helpers import submit_import
from tests.browser.helpers import WRONG_CHECKSUM
from tools import deployment
from tools.fileserver import FileServer
from tools import images

pytestmark = [pytest.mark.operator, pytest.mark.browser,
              pytest.mark.realstack]

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ARTIFACTS.parent / 'operator'


def git(*args, cwd=ROOT):
    return subprocess.run(['git', *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


def tracked(pattern):
    """Files of the checkout matching a git pathspec."""
    return git('ls-files', '--', pattern).split()


def previous_commit():
    """The commit to upgrade from: HII_UPGRADE_FROM, by default the one
    before HEAD (fetched if the clone is shallow)."""
    wanted = os.environ.get('HII_UPGRADE_FROM', 'HEAD~1') + '^{commit}'
    found = subprocess.run(['git', 'rev-parse', '--verify', '-q', wanted],
                           cwd=ROOT, capture_output=True, text=True)
    if found.returncode and git('rev-parse', '--is-shallow-repository'
                                ).strip() == 'true':
        subprocess.run(['git', 'fetch', '-q', '--deepen=1'], cwd=ROOT)
        found = subprocess.run(['git', 'rev-parse', '--verify', '-q',
                                wanted], cwd=ROOT, capture_output=True,
                               text=True)
    if found.returncode:
        pytest.fail('no commit %s in %s to upgrade from: set '
                    'HII_UPGRADE_FROM to a commit or tag of this repository'
                    % (wanted, ROOT))
    return found.stdout.strip()


def report(name, data):
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / name).write_text(json.dumps(data, indent=2) + '\n')


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """This checkout's sdist and wheel (the wheel built from the sdist)."""
    folder = tmp_path_factory.mktemp('dist')
    started = time.monotonic()
    wheel, sdist = deployment.build_dist(ROOT, folder / 'new',
                                         folder / 'build.log')
    return {'wheel': wheel, 'sdist': sdist, 'folder': folder,
            'seconds': time.monotonic() - started}


@pytest.fixture
def sample_server(tmp_path):
    with FileServer(tmp_path / 'samples') as server:
        yield server


def sample(server, name, size=32 * 1024 * 1024):
    """A qcow2 on the sample server; returns (url, its sha512)."""
    server.root.mkdir(parents=True, exist_ok=True)
    path, _data = images.make_qcow2(str(server.root), name, size=size)
    digest = hashlib.sha512(Path(path).read_bytes()).hexdigest()
    return server.url(name), digest


def glance_image(glance, name):
    found = list(glance.images.list(filters={'name': name}))
    assert len(found) == 1, found
    return found[0]


def host(stack, tmp_path, sample_server):
    return deployment.Deployment(
        tmp_path / 'host', stack.keystone_url,
        url_allowlist=['127.0.0.1:%d' % sample_server.port],
        # Jobs run on trusts to the importer's service user, as the
        # operator guide sets a production cloud up.
        importer={'SERVICE_AUTH': stack.service_auth(),
                  'REQUEUE_AFTER': 2, 'SWEEP_INTERVAL': 2})


def test_wheel_and_sdist_hold_what_an_operator_needs(built):
    wheel = zipfile.ZipFile(built['wheel'])
    names = set(wheel.namelist())
    version = deployment.dist_version(built['wheel'])
    data = 'horizon_image_importer-%s.data/data/' % version
    info = 'horizon_image_importer-%s.dist-info/' % version

    package = set(tracked('image_importer'))
    templates = {n for n in package if '/templates/' in n}
    migrations = {n for n in package if '/migrations/' in n}
    assert templates and migrations
    assert package <= names, sorted(package - names)
    enabled = tracked('enabled/_[0-9]*.py')
    assert enabled
    for name in enabled:
        installed = data + 'share/horizon-image-importer/' + name
        assert wheel.read(installed) == (ROOT / name).read_bytes()
    notes = tracked('releasenotes/notes/*.yaml')
    assert notes
    for name in notes:
        assert (data + 'share/doc/horizon-image-importer/releasenotes/'
                + Path(name).name) in names
    for name in tracked('deploy/systemd/*'):
        assert (data + 'share/horizon-image-importer/systemd/'
                + Path(name).name) in names
    assert data + 'share/doc/horizon-image-importer/operations.md' in names
    assert wheel.read(info + 'licenses/LICENSE') == (
        ROOT / 'LICENSE').read_bytes()
    metadata = wheel.read(info + 'METADATA').decode()
    assert 'License: Apache-2.0' in metadata
    assert 'Version: %s' % version in metadata
    assert 'image-importer-enable = image_importer.cmd.enable:main' in (
        wheel.read(info + 'entry_points.txt').decode())
    # Nothing else at the top: no tests, tools or stray packages.
    assert {n.split('/')[0] for n in names} == {
        'image_importer', data.split('/')[0], info.rstrip('/')}

    with tarfile.open(built['sdist']) as sdist:
        top = 'horizon_image_importer-%s/' % version
        in_sdist = {n[len(top):] for n in sdist.getnames()}
    for name in ('LICENSE', 'setup.cfg', 'setup.py', 'README.md',
                 *enabled, *notes, *migrations, *templates):
        assert name in in_sdist, name
    report('wheel-files.json', sorted(names))


def test_pip_builds_the_same_wheel_from_a_clone(built, tmp_path):
    # What 'pip install .' in a clean clone does first.
    clone = tmp_path / 'clone'
    git('clone', '-q', str(ROOT), str(clone))
    git('checkout', '-q', git('rev-parse', 'HEAD').strip(), cwd=clone)
    deployment.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                    '-w', tmp_path / 'out', clone], tmp_path / 'pip.log')
    [wheel] = (tmp_path / 'out').glob('*.whl')
    assert wheel.name == built['wheel'].name
    from_clone = set(zipfile.ZipFile(wheel).namelist())
    from_sdist = set(zipfile.ZipFile(built['wheel']).namelist())
    # pbr writes AUTHORS (from git) into the sdist; a wheel built straight
    # from the tree may be made before that file exists.
    authors = {n for n in from_sdist if n.endswith('/licenses/AUTHORS')}
    assert from_clone - authors == from_sdist - authors


def test_operator_installs_the_wheel_and_imports_an_image(
        built, stack, demo_glance, sample_server, page, tmp_path):
    url, digest = sample(sample_server, 'operator-disk.qcow2')
    started = time.monotonic()
    horizon = host(stack, tmp_path, sample_server)
    try:
        horizon.create_venv()
        horizon.pip_install_from(built['wheel'].parent)
        assert horizon.installed_version() == deployment.dist_version(
            built['wheel'])
        horizon.prepare()
        horizon.start()
        # The offline-compressed stylesheet, served by nginx.
        login_page = urllib.request.urlopen(
            horizon.url + '/auth/login/', timeout=10).read().decode()
        css = re.search(r'/static/dashboard/css/output\.[0-9a-f]+\.css',
                        login_page)
        assert css, 'no compressed stylesheet on the login page'
        with urllib.request.urlopen(horizon.url + css.group(0),
                                    timeout=10) as response:
            assert response.status == 200 and response.read()

        login(page, horizon, 'demo', 'demo')
        row = submit_import(page, url, check=True)
        status_cell(row).filter(has_text='Active').wait_for(timeout=120_000)
        first_image = time.monotonic() - started
        page.screenshot(path=str(ARTIFACTS / 'operator-import-active.png'))

        image = glance_image(demo_glance, 'operator-disk.qcow2')
        assert image.status == 'active'
        assert image.disk_format == 'qcow2'
        assert image.os_hash_value == digest
        version = deployment.dist_version(built['wheel'])
        assert ('ready (horizon-image-importer %s)' % version) in (
            horizon.state / 'logs' / 'worker.log').read_text()
        report('install-timings.json', dict(
            horizon.timings, **{
                'build sdist and wheel': built['seconds'],
                'empty virtualenv to first imported image': first_image}))
    finally:
        horizon.stop()


def test_upgrade_from_the_previous_commit_keeps_the_jobs(
        built, stack, demo_glance, sample_server, page, tmp_path):
    commit = previous_commit()
    source = tmp_path / 'previous'
    git('clone', '-q', '--no-checkout', str(ROOT), str(source))
    git('checkout', '-q', commit, cwd=source)
    old_wheel, _sdist = deployment.build_dist(
        source, tmp_path / 'old-dist', tmp_path / 'build-old.log')
    assert old_wheel.name != built['wheel'].name

    kept_url, kept_digest = sample(sample_server, 'before-upgrade.qcow2')
    queued_url, queued_digest = sample(sample_server, 'across-upgrade.qcow2')
    # Fails once downloaded, in any version: not the checksum given.
    mismatched_url, _digest = sample(sample_server, 'mismatched.qcow2')

    horizon = host(stack, tmp_path, sample_server)
    try:
        horizon.create_venv()
        horizon.pip_install_from(old_wheel.parent)
        assert horizon.installed_version() == deployment.dist_version(
            old_wheel)
        horizon.prepare()
        horizon.start()
        login(page, horizon, 'demo', 'demo')
        row = submit_import(page, kept_url)
        status_cell(row).filter(has_text='Active').wait_for(timeout=120_000)
        row = submit_import(page, mismatched_url, checksum=WRONG_CHECKSUM)
        status_cell(row).filter(has_text='Failed').wait_for(timeout=60_000)
        assert "The file's sha256 checksum is" in row.inner_text()
        # A job still queued when the upgrade starts.
        horizon.stop_worker()
        row = submit_import(page, queued_url)
        assert 'Queued' in status_cell(row).inner_text()
        horizon.stop()

        horizon.pip_install_from(built['wheel'].parent, upgrade=True)
        assert horizon.installed_version() == deployment.dist_version(
            built['wheel'])
        horizon.prepare()
        horizon.start()

        page.context.clear_cookies()
        login(page, horizon, 'demo', 'demo')
        table = page.locator('#image_imports tbody')
        for name in ('before-upgrade.qcow2', 'across-upgrade.qcow2',
                     'mismatched.qcow2'):
            table.locator('tr', has_text=name).first.wait_for()
        failed = table.locator('tr', has_text='mismatched.qcow2').first
        assert 'Failed' in status_cell(failed).inner_text()
        assert "The file's sha256 checksum is" in failed.inner_text()
        across = table.locator('tr', has_text='across-upgrade.qcow2').first
        status_cell(across).filter(has_text='Active').wait_for(
            timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / 'operator-upgraded.png'))

        for name, digest in (('before-upgrade.qcow2', kept_digest),
                             ('across-upgrade.qcow2', queued_digest)):
            image = glance_image(demo_glance, name)
            assert (image.status, image.os_hash_value) == ('active', digest)
        listed = subprocess.run(
            [horizon.bin('django-admin'), 'importer', 'list'],
            env=horizon.env(), cwd=horizon.state, check=True,
            capture_output=True, text=True).stdout
        assert sorted(line.split()[1] for line in listed.splitlines()) == [
            'active', 'active', 'failed']
    finally:
        horizon.stop()
