"""Following a source: a new build is seen, an unchanged one costs one
small conditional request; served for real by the test file server."""

import hashlib
import os
import time

import pytest

from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import follow
from tools.fileserver import FileServer


@pytest.fixture
def mirror(tmp_path):
    root = tmp_path / 'mirror'
    (root / 'noble' / 'current').mkdir(parents=True)
    with FileServer(root, listing=True) as server:
        server.fetcher = fetch.Fetcher(fetch.UrlPolicy(
            allow=('127.0.0.1:%d' % server.port,)))
        yield server


def publish(path, data):
    """Replace the file, as a mirror does with each build (a new mtime,
    hence a new ETag)."""
    path.write_bytes(data)
    later = time.time() + 5
    os.utime(path, (later, later))


def test_a_current_url_is_looked_at_with_one_conditional_head(mirror):
    image = mirror.root / 'noble' / 'current' / 'noble-amd64.img'
    publish(image, b'build 1')
    source = follow.Source(mirror.url('noble/current/noble-amd64.img'))

    first = follow.look(mirror.fetcher, source)
    again = follow.look(mirror.fetcher, source, first.validator,
                        first.release.identity)
    publish(image, b'build 2, a little longer')
    new = follow.look(mirror.fetcher, source, first.validator,
                      first.release.identity)

    assert first.changed and first.release.url == source.url
    assert (again.changed, again.release) == (False, None)
    assert new.changed and new.validator != first.validator
    assert [(method, path) for method, path, _range in mirror.requests] == [
        ('HEAD', '/noble/current/noble-amd64.img')] * 3


def test_the_newest_build_of_a_folder_by_its_numbers(mirror):
    folder = mirror.root / 'rocky'
    folder.mkdir()
    for name in ('Rocky-9-GenericCloud-9.4-20240523.0.x86_64.qcow2',
                 'Rocky-9-GenericCloud-9.10-20261130.0.x86_64.qcow2',
                 'Rocky-9-GenericCloud-9.9-20261201.0.x86_64.qcow2',
                 'Rocky-9-GenericCloud-9.10-20261130.0.aarch64.qcow2'):
        (folder / name).write_bytes(b'x')
    source = follow.Source(mirror.url('rocky'), follow.FOLDER,
                           'Rocky-9-GenericCloud-*.x86_64.qcow2')

    found = follow.look(mirror.fetcher, source)
    same = follow.look(mirror.fetcher, source, found.validator,
                       found.release.identity)

    assert found.release.url == mirror.url(
        'rocky/Rocky-9-GenericCloud-9.10-20261130.0.x86_64.qcow2')
    assert found.release.date == '2026-11-30'
    assert not same.changed


def test_a_checksum_file_entry_that_changes_is_a_new_build(mirror):
    folder = mirror.root / 'debian'
    folder.mkdir()
    sums = folder / 'SHA512SUMS'
    digest = hashlib.sha512(b'one').hexdigest()
    publish(sums, ('%s  debian-12-generic-amd64.qcow2\n%s  '
                   'debian-12-generic-arm64.qcow2\n' % (
                       digest, 'f' * 128)).encode())
    source = follow.Source(mirror.url('debian/SHA512SUMS'),
                           follow.CHECKSUMS, 'debian-12-generic-amd64.*')

    first = follow.look(mirror.fetcher, source)
    unchanged = follow.look(mirror.fetcher, source, first.validator,
                            first.release.identity)
    publish(sums, ('%s  debian-12-generic-amd64.qcow2\n' %
                   hashlib.sha512(b'two').hexdigest()).encode())
    second = follow.look(mirror.fetcher, source, first.validator,
                         first.release.identity)

    assert first.release.url == mirror.url(
        'debian/debian-12-generic-amd64.qcow2')
    assert first.release.expected_checksum == 'sha512:' + digest
    assert (unchanged.changed, unchanged.release) == (False, None)
    assert second.changed
    assert second.release.expected_checksum.endswith(
        hashlib.sha512(b'two').hexdigest())
    assert [method for method, _path, _range in mirror.requests] == [
        'GET'] * 3


def test_nothing_matching_is_said(mirror):
    (mirror.root / 'empty').mkdir()
    source = follow.Source(mirror.url('empty/'), follow.FOLDER, '*.qcow2')

    with pytest.raises(ImportFailure) as failed:
        follow.look(mirror.fetcher, source)

    assert failed.value.code == 'no_release'


def test_a_refused_address_is_refused_as_an_import_would_be(mirror):
    source = follow.Source('http://169.254.169.254/latest/image.img')

    with pytest.raises(ImportFailure) as failed:
        follow.look(mirror.fetcher, source)

    assert failed.value.code == 'address_not_allowed'


@pytest.mark.parametrize('name, modified, date', [
    ('debian-12-generic-amd64-20261207-1953.qcow2', '', '2026-12-07'),
    ('Fedora-Cloud-Base-41-2026-11-30.x86_64.qcow2', '', '2026-11-30'),
    ('noble.img', 'Mon, 07 Dec 2026 10:00:00 GMT', '2026-12-07'),
    ('noble.img', '', ''),
])
def test_a_build_date_from_the_name_or_the_server(name, modified, date):
    assert follow.date_of(name, modified) == date
