"""The receive stage against a real server and a real, small file system."""

import gzip
import hashlib
import os

import pytest

from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import pipeline
from tools.fakeglance import FakeGlance
from tools.fileserver import Fault
from tools.fileserver import FileServer
from tools import images


class Reporter:
    def __init__(self):
        self.calls = []

    def phase(self, name):
        self.calls.append(('phase', name))

    def progress(self, done, total):
        self.calls.append(('progress', done, total))

    def image_created(self, image_id):
        self.calls.append(('image', image_id))

    def route(self, name, source_format):
        self.calls.append(('route', name))

    def provenance(self, origin):
        self.calls.append(('provenance', origin.checksum_from))


@pytest.fixture
def small_fs(small_tmpfs):
    """A 4 MiB file system."""
    return small_tmpfs('4m')


@pytest.fixture
def server(tmp_path):
    (tmp_path / 'big.img').write_bytes(os.urandom(16 * 1024 * 1024))
    with FileServer(tmp_path) as srv:
        yield srv


def request_for(server, name, **fields):
    policy = fetch.UrlPolicy(allow=('127.0.0.1:%d' % server.port,))
    fields.setdefault('image_meta', None)
    return pipeline.ImportRequest(url=server.url(name),
                                  fetcher=fetch.Fetcher(policy),
                                  glance_client=FakeGlance(), **fields)


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


class StopAfter(Reporter):
    """Stands in for a worker killed once ``limit`` bytes arrived."""

    def __init__(self, limit):
        super().__init__()
        self.limit = limit

    def progress(self, done, total):
        if done >= self.limit:
            raise KeyboardInterrupt('worker killed')


def receive(server, workdir, reporter):
    return pipeline.receive(request_for(server, 'big.img'), str(workdir),
                            reporter, ['sha256'])


def test_next_run_continues_the_download_an_earlier_run_left(
        tmp_path, server):
    workdir = tmp_path / 'job'
    workdir.mkdir()
    original = (tmp_path / 'big.img').read_bytes()
    with pytest.raises(KeyboardInterrupt):
        receive(server, workdir, StopAfter(4 * 1024 * 1024))
    left = os.path.getsize(workdir / 'source')
    assert 0 < left < len(original)

    received = receive(server, workdir, Reporter())

    assert received.resumed_at == left - 1
    assert (workdir / 'source').read_bytes() == original
    assert received.checksums == {
        'sha256': hashlib.sha256(original).hexdigest()}


def test_a_source_that_changed_is_downloaded_again_from_the_start(
        tmp_path, server):
    workdir = tmp_path / 'job'
    workdir.mkdir()
    with pytest.raises(KeyboardInterrupt):
        receive(server, workdir, StopAfter(4 * 1024 * 1024))
    changed = os.urandom(8 * 1024 * 1024)
    (tmp_path / 'big.img').write_bytes(changed)

    received = receive(server, workdir, Reporter())

    assert received.resumed_at == 0
    assert (workdir / 'source').read_bytes() == changed
    assert received.checksums['sha256'] == hashlib.sha256(
        changed).hexdigest()


def _allocated(path):
    return os.stat(path).st_blocks * 512


def test_zeros_in_the_image_become_holes_in_the_work_file(tmp_path):
    # 1 MiB of data, 6 MiB of zeros, data, and zeros to the end: the
    # file holds every byte, but disk only for the data.
    mib = 1024 * 1024
    data = (os.urandom(mib) + bytes(6 * mib) + os.urandom(mib // 2) +
            bytes(3 * mib + 512))
    (tmp_path / 'holes.img').write_bytes(data)
    workdir = tmp_path / 'job'
    workdir.mkdir()
    with FileServer(tmp_path) as srv:
        received = pipeline.receive(request_for(srv, 'holes.img'),
                                    str(workdir), Reporter(), ['sha256'])

    source = workdir / 'source'
    assert received.size == len(data)
    assert source.read_bytes() == data
    assert _allocated(source) < 3 * mib
    assert received.checksums['sha256'] == hashlib.sha256(data).hexdigest()


def test_a_resumed_download_keeps_its_holes_and_bytes(tmp_path):
    mib = 1024 * 1024
    data = os.urandom(2 * mib) + bytes(8 * mib) + os.urandom(mib)
    (tmp_path / 'holes.img').write_bytes(data)
    workdir = tmp_path / 'job'
    workdir.mkdir()
    with FileServer(tmp_path) as srv:
        with pytest.raises(KeyboardInterrupt):
            pipeline.receive(request_for(srv, 'holes.img'), str(workdir),
                             StopAfter(5 * mib), ['sha256'])
        left = os.path.getsize(workdir / 'source')
        assert 0 < left < len(data)
        received = pipeline.receive(request_for(srv, 'holes.img'),
                                    str(workdir), Reporter(), ['sha256'])

    assert received.resumed_at == left - 1
    assert (workdir / 'source').read_bytes() == data
    assert received.checksums['sha256'] == hashlib.sha256(data).hexdigest()


def test_a_qcow2_made_raw_as_it_arrives_sends_at_most_ahead_a_write(
        tmp_path):
    """64 MiB of the disk at most for each write of the download: the
    zeros of an empty disk cost no download, and the download must not
    wait for all of them."""
    path = images.make_sparse_qcow2(str(tmp_path), 'empty.qcow2',
                                    200 * 1024 * 1024, data=1024 * 1024)
    raw = pipeline._RawFromQcow2(path, None)
    size = os.path.getsize(path)
    expected = images.to_raw_bytes(path, 'qcow2')

    sent = [b''.join(raw.chunks(size)) for _write in range(4)]

    assert [len(part) for part in sent] == [
        raw.AHEAD, raw.AHEAD, raw.AHEAD, 200 * 1024 * 1024 - 3 * raw.AHEAD]
    assert b''.join(sent) == expected
    assert raw.done == raw.layout.position == len(expected)


def test_a_qcow2_too_large_a_disk_is_refused_before_a_byte_is_sent(
        tmp_path):
    path = images.make_sparse_qcow2(str(tmp_path), 'huge.qcow2',
                                    64 * 1024 * 1024)
    raw = pipeline._RawFromQcow2(path, max_virtual_size=32 * 1024 * 1024)

    with pytest.raises(ImportFailure) as exc:
        next(raw.chunks(os.path.getsize(path)))

    assert exc.value.code == 'virtual_too_large'
    assert raw.done == 0


# -- the route: chosen once, by one function ----------------------------------

R = pipeline.Route


@pytest.mark.parametrize('found, wanted, arriving, streaming, qemu, route', [
    ('qcow2', 'qcow2', True, True, True, R.AS_DOWNLOADED),
    ('qcow2', 'qcow2', True, False, True, R.FILE),
    ('qcow2', 'qcow2', False, True, True, R.FILE),
    ('qcow2', 'raw', True, True, True, R.RAW_AS_IT_ARRIVES),
    ('qcow2', 'raw', True, True, False, R.RAW_AS_IT_ARRIVES),
    # Fallen through from made-raw-as-it-arrived, once downloaded:
    ('qcow2', 'raw', False, True, True, R.CONVERTED_INTO_UPLOAD),
    ('qcow2', 'raw', False, True, False, R.CONVERTED_TO_FILE),
    ('vmdk', 'raw', True, True, True, R.CONVERTED_INTO_UPLOAD),
    ('vmdk', 'raw', True, False, True, R.CONVERTED_TO_FILE),
    ('raw', 'qcow2', True, True, True, R.CONVERTED_TO_FILE),
    ('iso', 'iso', True, True, True, R.AS_DOWNLOADED),
])
def test_the_route_follows_formats_host_and_settings(
        found, wanted, arriving, streaming, qemu, route):
    assert pipeline.choose_route(found, wanted, 'f.img', arriving=arriving,
                                 streaming=streaming,
                                 can_stream_raw=qemu) is route


@pytest.mark.parametrize('found, wanted, code', [
    ('qcow2', 'iso', 'not_an_iso'),
    ('raw', 'iso', 'not_an_iso'),
    ('iso', 'qcow2', 'cannot_convert'),
])
def test_a_target_that_cannot_be_made_is_refused(found, wanted, code):
    with pytest.raises(ImportFailure) as refused:
        pipeline.choose_route(found, wanted, 'f.img', arriving=True,
                              streaming=True, can_stream_raw=True)
    assert refused.value.code == code


@pytest.mark.parametrize('overlap', [True, False])
def test_an_iso_wanted_of_a_disk_image_fails_in_the_first_megabytes(
        tmp_path, overlap):
    # A 64 MiB qcow2 (random data), asked for as an installer ISO: the
    # download stops as soon as the format is known, not at its end.
    served = tmp_path / 'files'
    served.mkdir()
    images.make_qcow2(str(served), 'jammy.img', size=64 * 1024 * 1024)
    work = tmp_path / 'work'
    work.mkdir()
    reporter = Reporter()
    with FileServer(served) as srv:
        request = request_for(srv, 'jammy.img', disk_format='iso',
                              overlap=overlap)
        with pytest.raises(ImportFailure) as refused:
            pipeline.run(request, str(work), reporter)

    assert refused.value.code == 'not_an_iso'
    assert refused.value.params == {'format': 'qcow2', 'name': 'jammy.img'}
    received = max(call[1] for call in reporter.calls
                   if call[0] == 'progress')
    assert received <= 8 * 1024 * 1024


# -- content that is no disk image --------------------------------------------

@pytest.mark.parametrize('name, body, code', [
    ('download.img', b'<!DOCTYPE html>\n<html><head><title>Get the image'
     b'</title></head><body><a href="disk.img">disk.img</a></body></html>',
     'web_page'),
    ('page.img.gz', None, 'web_page'),
    ('error.img', b'{"Code": "AccessDenied"}\n', 'not_a_disk_image'),
])
@pytest.mark.parametrize('overlap', [True, False])
def test_content_that_is_no_disk_image_is_refused(
        tmp_path, name, body, code, overlap):
    served = tmp_path / 'files'
    served.mkdir()
    page = b'<html><body>' + b'mirror list ' * 50_000 + b'</body></html>'
    (served / name).write_bytes(body or gzip.compress(page))
    work = tmp_path / 'work'
    work.mkdir()
    with FileServer(served) as srv:
        request = request_for(srv, name, overlap=overlap)
        with pytest.raises(ImportFailure) as refused:
            pipeline.run(request, str(work), Reporter())

    assert refused.value.code == code
    assert request.glance_client.images.list() == []


# -- an image checked against a checksum reaches Glance only once it matches --

def _meta(disk_format):
    return {'name': 'checked', 'disk_format': disk_format,
            'container_format': 'bare'}


@pytest.fixture
def qcow2_served(tmp_path):
    served = tmp_path / 'files'
    served.mkdir()
    path, _data = images.make_qcow2(str(served), 'disk.qcow2',
                                    size=16 * 1024 * 1024)
    with open(path, 'rb') as image:
        digest = hashlib.sha256(image.read()).hexdigest()
    work = tmp_path / 'work'
    work.mkdir()
    with FileServer(served) as srv:
        yield srv, str(work), digest


@pytest.mark.parametrize('wanted', [None, 'raw'])
def test_a_checksum_mismatch_sends_nothing_to_glance(qcow2_served, wanted):
    srv, work, _digest = qcow2_served
    request = request_for(srv, 'disk.qcow2', image_meta=_meta,
                          disk_format=wanted, overlap=True,
                          expected_checksum='sha256:' + '1' * 64)

    with pytest.raises(ImportFailure) as failed:
        pipeline.run(request, work, Reporter())

    assert failed.value.code == 'checksum_mismatch'
    assert request.glance_client.images.created == []


def test_a_checked_image_is_sent_once_its_checksum_matched(qcow2_served):
    srv, work, digest = qcow2_served
    reporter = Reporter()
    request = request_for(srv, 'disk.qcow2', image_meta=_meta, overlap=True,
                          expected_checksum='sha256:' + digest)

    result = pipeline.run(request, work, reporter)

    image = request.glance_client.images.get(result.image_id)
    assert image.status == 'active'
    assert ('route', R.FILE.name) in reporter.calls


def test_the_operator_may_overlap_a_checked_upload(qcow2_served):
    # OVERLAP_VERIFIED_UPLOAD: faster, but a mismatch is caught after the
    # image was created; the unfinished image is deleted.
    srv, work, _digest = qcow2_served
    request = request_for(srv, 'disk.qcow2', image_meta=_meta, overlap=True,
                          overlap_verified=True,
                          expected_checksum='sha256:' + '1' * 64)

    with pytest.raises(ImportFailure) as failed:
        pipeline.run(request, work, Reporter())

    assert failed.value.code == 'checksum_mismatch'
    created = request.glance_client.images.created
    assert len(created) == 1 and request.glance_client.images.list() == []
