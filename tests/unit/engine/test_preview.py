"""What a file's first bytes say of it: real images made by qemu-img and
compressed by the real tools, cut where a ranged GET would cut them."""

import gzip
import io
import struct
import tarfile

import pytest

from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import preview
from tools import images

GIB = 1024 ** 3


def probe_of(data, head_bytes=fetch.PROBE_BYTES, content_type='',
             name='disk.img'):
    """The ``Probe`` a ranged GET of ``data``'s start would give."""
    head = data[:head_bytes]
    return fetch.Probe(url='https://example.org/' + name, size=len(data),
                       content_type=content_type, file_name=name,
                       resumable=True, head=head,
                       complete=len(head) == len(data))


def sparse_qcow2(tmp_path, virtual_size):
    path = images.make_sparse_qcow2(str(tmp_path), 'disk.qcow2',
                                    virtual_size)
    with open(path, 'rb') as f:
        return f.read()


def test_a_qcow2_shows_its_format_and_virtual_size_from_its_start(tmp_path):
    data = sparse_qcow2(tmp_path, 2 * GIB)

    found = preview.describe(probe_of(data, head_bytes=65536))

    assert (found.format, found.virtual_size, found.refusal) == (
        'qcow2', 2 * GIB, None)


def test_a_compressed_qcow2_is_read_through_its_compression(tmp_path):
    data = gzip.compress(sparse_qcow2(tmp_path, 3 * GIB))

    found = preview.describe(probe_of(data, head_bytes=4096))

    assert (found.format, found.virtual_size, found.compression) == (
        'qcow2', 3 * GIB, 'gzip')


def test_a_qcow2_in_a_tar_is_found_in_the_archive(tmp_path):
    qcow2 = sparse_qcow2(tmp_path, GIB)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        member = tarfile.TarInfo('images/disk.qcow2')
        member.size = len(qcow2)
        tar.addfile(member, io.BytesIO(qcow2))

    found = preview.describe(probe_of(out.getvalue(), head_bytes=600_000))

    assert (found.format, found.archive, found.member) == (
        'qcow2', 'tar', 'images/disk.qcow2')


def test_a_backing_file_is_refused_before_the_download(tmp_path):
    path = images.make_qcow2_with_backing_file(str(tmp_path))
    with open(path, 'rb') as f:
        found = preview.describe(probe_of(f.read()))

    assert found.format == 'qcow2'
    assert found.refusal.code == 'backing_file'


def test_a_disk_larger_than_the_cloud_accepts_is_refused(tmp_path):
    data = sparse_qcow2(tmp_path, 8 * GIB)

    found = preview.describe(probe_of(data), max_virtual_size=4 * GIB)

    assert found.refusal.code == 'virtual_too_large'


def test_a_raw_file_is_as_large_as_the_file(tmp_path):
    data = bytes(512) * 8192 + b'\x55\xaa' * 100

    found = preview.describe(probe_of(data, head_bytes=1024 * 1024))

    assert (found.format, found.virtual_size, found.refusal) == (
        'raw', len(data), None)


def iso_bytes(blocks=64):
    """A minimal ISO 9660 image: the system area, a primary volume
    descriptor naming ``blocks`` blocks of 2 KiB, and zeros."""
    pvd = bytearray(2048)
    pvd[0:7] = b'\x01CD001\x01'
    pvd[80:88] = struct.pack('<I', blocks) + struct.pack('>I', blocks)
    pvd[128:132] = struct.pack('<H', 2048) + struct.pack('>H', 2048)
    end = b'\xffCD001\x01' + bytes(2041)
    data = bytes(32768) + bytes(pvd) + end
    return data + bytes(blocks * 2048 - len(data))


def test_an_iso_is_an_iso():
    found = preview.describe(probe_of(iso_bytes()))

    assert (found.format, found.virtual_size) == ('iso', 64 * 2048)


@pytest.mark.parametrize('page', [
    b'<!DOCTYPE html>\n<html><head><title>Download</title></head></html>',
    b'\n\n  <html lang="en"><body>mirror list</body></html>',
    b'\xef\xbb\xbf<!-- generated -->\n<HTML><HEAD></HEAD></HTML>',
    b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml">',
])
def test_a_web_page_is_refused_by_its_content(page):
    found = preview.describe(probe_of(page))

    assert found.refusal.code == 'web_page'


def test_a_web_page_is_refused_by_its_content_type():
    found = preview.describe(probe_of(b'Loading...' + bytes(5000),
                                      content_type='text/html; charset=utf8'))

    assert found.refusal.code == 'web_page'


def test_a_small_text_file_is_no_disk_image():
    found = preview.describe(probe_of(b'{"error": "NoSuchKey"}\n'))

    assert found.refusal.code == 'not_a_disk_image'
    assert found.refusal.params == {'size': 23}


def test_a_disk_image_with_a_wrong_content_type_is_still_an_image(tmp_path):
    data = sparse_qcow2(tmp_path, GIB)

    found = preview.describe(probe_of(data, content_type='text/html'))

    assert (found.format, found.refusal) == ('qcow2', None)


def test_a_start_that_says_nothing_yet_gives_no_format(tmp_path):
    # A qcow2 cut before its header ends: not decided.
    data = sparse_qcow2(tmp_path, GIB)

    found = preview.describe(probe_of(data, head_bytes=40))

    assert (found.format, found.refusal) == (None, None)


def test_a_corrupt_whole_file_is_refused_but_a_cut_one_is_not():
    data = gzip.compress(bytes(1 << 20))
    broken = data[:20] + b'\xff' * 16 + data[36:]

    assert preview.describe(probe_of(broken)).refusal.code in (
        'compressed_corrupt', 'compressed_truncated')
    assert preview.describe(probe_of(data[:30] + bytes(10_000),
                                     head_bytes=30)).refusal is None


@pytest.mark.parametrize('head, size', [
    (b'<!doctype html><p>gone</p>', None),
    (b'plain words and nothing else\n', 29),
])
def test_the_worker_refuses_what_is_no_image(head, size):
    with pytest.raises(ImportFailure):
        preview.refuse_non_image(head, size)


def test_the_worker_keeps_a_text_looking_start_of_a_large_file():
    preview.refuse_non_image(b'compressible ' * 100, 2 * 1024 * 1024)
    preview.refuse_non_image(b'compressible ' * 100)
