"""The receive stage against a real server and a real, small file system."""

import os
import subprocess

import pytest

from image_importer.engine import fetch
from image_importer.engine import pipeline
from image_importer.engine.errors import ImportFailure
from tools.fileserver import Fault
from tools.fileserver import FileServer


class Reporter:
    def __init__(self):
        self.calls = []

    def phase(self, name):
        self.calls.append(('phase', name))

    def progress(self, done, total):
        self.calls.append(('progress', done, total))

    def image_created(self, image_id):
        self.calls.append(('image', image_id))


@pytest.fixture
def small_fs(tmp_path):
    """A 4 MiB tmpfs (the suite runs as root, as CI does)."""
    mountpoint = tmp_path / 'small'
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.fail('this test mounts a tmpfs: run the suite as root')
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs',
                    str(mountpoint)], check=True)
    yield mountpoint
    subprocess.run(['umount', str(mountpoint)], check=True)


@pytest.fixture
def server(tmp_path):
    (tmp_path / 'big.img').write_bytes(os.urandom(16 * 1024 * 1024))
    with FileServer(tmp_path) as srv:
        yield srv


def request_for(server, name, **fields):
    policy = fetch.UrlPolicy(allow=('127.0.0.1:%d' % server.port,))
    return pipeline.ImportRequest(url=server.url(name),
                                  fetcher=fetch.Fetcher(policy),
                                  glance_client=None, image_meta=None,
                                  **fields)


@pytest.mark.parametrize('fault', [None, Fault(length=-1)])
def test_file_larger_than_free_space_fails_as_disk_full(
        small_fs, server, fault):
    if fault:
        server.faults['/big.img'] = fault
    with pytest.raises(ImportFailure) as exc:
        pipeline.receive(request_for(server, 'big.img',
                                     max_bytes=1024 ** 3),
                         str(small_fs), Reporter(), ['sha256'])
    assert exc.value.code == 'disk_full'


def test_write_error_no_space_is_disk_full(small_fs, server, monkeypatch):
    # As if the space went away while the download ran.
    monkeypatch.setattr(pipeline, 'space_limit', lambda *a: 1024 ** 3)
    with pytest.raises(ImportFailure) as exc:
        pipeline.receive(request_for(server, 'big.img'), str(small_fs),
                         Reporter(), ['sha256'])
    assert exc.value.code == 'disk_full'


def test_operator_size_limit_is_not_disk_full(tmp_path, server):
    work = tmp_path / 'work'
    work.mkdir()
    with pytest.raises(ImportFailure) as exc:
        pipeline.receive(request_for(server, 'big.img', max_bytes=1024),
                         str(work), Reporter(), ['sha256'])
    assert exc.value.code == 'too_large'
