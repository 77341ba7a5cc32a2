"""Format inspection and conversion with the real qemu-img."""

import os
import struct
import subprocess
import time

import pytest

from image_importer.engine import disk
from image_importer.engine.errors import ImportFailure
from tools import images


def test_qcow2_is_detected_with_its_virtual_size(tmp_path):
    path, data = images.make_qcow2(str(tmp_path))

    info = disk.inspect(path)

    assert (info.format, info.virtual_size) == ('qcow2', len(data))


def test_raw_is_detected(tmp_path):
    path = str(tmp_path / 'disk.raw')
    data = images.random_raw(path)

    assert disk.inspect(path).format == 'raw'
    assert disk.inspect(path).virtual_size == len(data)


def test_qcow2_with_backing_file_is_refused(tmp_path):
    path = images.make_qcow2_with_backing_file(str(tmp_path))

    with pytest.raises(ImportFailure) as exc:
        disk.inspect(path)

    assert exc.value.code == 'backing_file'


def test_convert_qcow2_to_raw_keeps_the_bytes(tmp_path):
    path, data = images.make_qcow2(str(tmp_path))
    dst = str(tmp_path / 'out')
    seen = []

    disk.convert(path, disk.inspect(path), dst, 'raw',
                 lambda d, t: seen.append((d, t)))

    with open(dst, 'rb') as f:
        assert f.read() == data
    assert seen[-1] == (len(data), len(data))
    assert sorted(os.listdir(tmp_path)) == ['disk.qcow2', 'out']


def test_cancel_kills_qemu_img_and_removes_output(tmp_path):
    path, _data = images.make_qcow2(str(tmp_path), size=64 * 1024 * 1024)
    dst = str(tmp_path / 'out')

    class Stop(Exception):
        pass

    def cancel(done, total):
        raise Stop()

    with pytest.raises(Stop):
        disk.convert(path, disk.inspect(path), dst, 'raw', cancel)
    assert sorted(os.listdir(tmp_path)) == ['disk.qcow2']


def helpers_left(timeout=5):
    """qemu-nbd and nbdcopy processes still alive after ``timeout``
    seconds: qemu-nbd, nbdcopy's child, ends on its own once nbdcopy is
    gone, a moment after."""
    deadline = time.monotonic() + timeout
    while (found := helpers_running()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def helpers_running():
    """qemu-nbd and nbdcopy processes alive now."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv0 = f.read().split(b'\0')[0]
        except OSError:
            continue
        if os.path.basename(argv0) in (b'qemu-nbd', b'nbdcopy'):
            found.append(pid)
    return found


def test_raw_chunks_are_the_disk_in_order_with_no_file(tmp_path):
    path, data = images.make_qcow2(str(tmp_path), size=24 * 1024 * 1024)
    errors = str(tmp_path / 'errors')

    out = b''.join(disk.raw_chunks(path, disk.inspect(path), errors))

    assert out == data
    assert sorted(os.listdir(tmp_path)) == ['disk.qcow2']
    assert helpers_left() == []


def compressed_qcow2(directory, size):
    """A qcow2 whose clusters are compressed: only QEMU can read them."""
    raw = os.path.join(directory, 'text.raw')
    with open(raw, 'wb') as f:
        f.write(b'compressible ' * (size // 13))
        f.truncate(size)
    path = os.path.join(directory, 'disk.qcow2')
    images.qemu_img('convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, path)
    with open(raw, 'rb') as f:
        data = f.read()
    os.unlink(raw)
    return path, data


def qemu_io(path, fmt, *commands):
    args = ['qemu-io', '-f', fmt]
    for command in commands:
        args += ['-c', command]
    subprocess.run(args + [path], check=True, stdout=subprocess.DEVNULL)


def test_an_uncompressed_image_is_read_from_its_file_by_its_map(tmp_path):
    """Data where the map says, zeros made here: no qemu-nbd, no nbdcopy;
    the bytes equal qemu-img convert's, across extents of every kind and
    a disk that ends inside a cluster."""
    path = str(tmp_path / 'disk.qcow2')
    images.qemu_img('create', '-f', 'qcow2', path, str(9 * 1024 * 1024 + 512))
    qemu_io(path, 'qcow2', 'write -P 0xab 0 1M', 'write -P 0xcd 3M 2M',
            'write -z 3M 64k', 'write -P 0xef 9M 512')
    info = disk.inspect(path)
    found = disk.extents(path, info)
    seen = []

    for chunk in disk.raw_chunks(path, info, str(tmp_path / 'errors')):
        seen.append(chunk)
        assert helpers_running() == []

    assert b''.join(seen) == images.to_raw_bytes(path, 'qcow2')
    assert {offset is None for _length, offset in found} == {True, False}
    assert sum(length for length, _offset in found) == info.virtual_size
    assert sorted(os.listdir(tmp_path)) == ['disk.qcow2']


def test_preallocated_zero_clusters_read_as_zeros(tmp_path):
    path = str(tmp_path / 'disk.qcow2')
    images.qemu_img('create', '-f', 'qcow2', '-o', 'preallocation=metadata',
                    path, '4M')
    qemu_io(path, 'qcow2', 'write -P 0x11 0 4M', 'write -z 1M 1M')
    info = disk.inspect(path)

    out = b''.join(disk.raw_chunks(path, info, str(tmp_path / 'errors')))

    assert out == b'\x11' * (1 << 20) + bytes(1 << 20) + b'\x11' * (2 << 20)
    assert disk.extents(path, info) is not None


@pytest.mark.parametrize('fmt,options,mapped', [
    ('vmdk', [], True), ('vdi', [], True),
    ('vpc', ['-o', 'subformat=dynamic'], True),
    ('vhdx', [], False)])   # QEMU's vhdx driver gives no file offsets
def test_other_formats_by_their_map_or_through_qemu(tmp_path, fmt, options,
                                                    mapped):
    raw = str(tmp_path / 'disk.raw')
    data = images.random_raw(raw, 3 * 1024 * 1024)
    with open(raw, 'r+b') as f:
        f.truncate(8 * 1024 * 1024)
    path = str(tmp_path / 'disk.img')
    images.qemu_img('convert', '-f', 'raw', '-O', fmt, *options, raw, path)
    info = disk.inspect(path)

    found = disk.extents(path, info)
    out = b''.join(disk.raw_chunks(path, info, str(tmp_path / 'errors')))

    assert (found is not None) == mapped
    assert out == images.to_raw_bytes(path, fmt)
    assert out[:len(data)] == data


def test_compressed_clusters_are_read_through_qemu(tmp_path):
    path, data = compressed_qcow2(str(tmp_path), 8 * 1024 * 1024)
    info = disk.inspect(path)

    chunks = disk.raw_chunks(path, info, str(tmp_path / 'errors'))
    first = next(chunks)
    through_qemu = bool(helpers_running())
    out = first + b''.join(chunks)

    assert disk.extents(path, info) is None
    assert through_qemu
    assert out == data
    assert helpers_left() == []


def test_data_past_the_end_of_the_file_is_left_to_qemu(tmp_path):
    path, _data = images.make_qcow2(str(tmp_path), size=4 * 1024 * 1024)
    info = disk.inspect(path)
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) - 65536)   # the last cluster

    assert disk.extents(path, info) is None


def test_an_image_mapped_in_too_many_pieces_is_read_through_qemu(
        tmp_path, monkeypatch):
    path = str(tmp_path / 'disk.qcow2')
    images.qemu_img('create', '-f', 'qcow2', path, '1M')
    qemu_io(path, 'qcow2', 'write -P 1 0 64k', 'write -P 2 128k 64k',
            'write -P 3 256k 64k')
    info = disk.inspect(path)
    assert len(disk.extents(path, info)) == 6
    monkeypatch.setattr(disk, 'MAX_EXTENTS', 5)

    assert disk.extents(path, info) is None
    out = b''.join(disk.raw_chunks(path, info, str(tmp_path / 'errors')))
    assert out == images.to_raw_bytes(path, 'qcow2')
    assert sorted(os.listdir(tmp_path)) == ['disk.qcow2']


def test_raw_chunks_read_from_the_file_stop_early_with_nothing_left(
        tmp_path):
    path, data = images.make_qcow2(str(tmp_path), size=8 * 1024 * 1024)
    info = disk.inspect(path)
    open_before = sorted(os.listdir('/proc/self/fd'))
    chunks = disk.raw_chunks(path, info, str(tmp_path / 'errors'))

    assert next(chunks) == data[:disk.STREAM_CHUNK]
    chunks.close()      # the job was cancelled

    assert sorted(os.listdir('/proc/self/fd')) == open_before
    assert sorted(os.listdir(tmp_path)) == ['disk.qcow2']


def test_raw_chunks_stopped_early_stop_qemu_nbd_and_nbdcopy(tmp_path):
    path, _data = compressed_qcow2(str(tmp_path), 64 * 1024 * 1024)
    chunks = disk.raw_chunks(path, disk.inspect(path),
                             str(tmp_path / 'errors'))

    assert len(next(chunks)) == disk.STREAM_CHUNK
    assert helpers_running()
    chunks.close()      # the job was cancelled

    assert helpers_left() == []
    assert sorted(os.listdir(tmp_path)) == ['disk.qcow2']


def test_raw_chunks_of_a_damaged_image_fail_with_qemus_words(tmp_path):
    path, _data = images.make_qcow2(str(tmp_path), size=8 * 1024 * 1024)
    info = disk.inspect(path)
    with open(path, 'r+b') as f:
        f.write(b'XXXX')            # no longer a qcow2 header

    with pytest.raises(ImportFailure) as exc:
        b''.join(disk.raw_chunks(path, info, str(tmp_path / 'errors')))

    assert (exc.value.code, exc.value.params['step']) == ('qemu_failed',
                                                          'map')
    assert 'qcow2' in exc.value.params['detail']
    assert helpers_left() == []


def test_unknown_target_cannot_be_converted(tmp_path):
    path, _data = images.make_qcow2(str(tmp_path))
    with pytest.raises(ImportFailure) as exc:
        disk.convert(path, disk.inspect(path), str(tmp_path / 'o'), 'iso',
                     lambda d, t: None)
    assert exc.value.code == 'cannot_convert'


def qemu_create(tmp_path, name, fmt, size, *options):
    path = str(tmp_path / name)
    images.qemu_img('create', '-f', fmt, *options, path, size)
    return path


def luks1_file(tmp_path):
    """A LUKS1 container header (``qemu-img create -f luks`` times its key
    derivation and fails now and then on a busy machine)."""
    header = struct.pack('>6sH32s32s32sII20s32sI', b'LUKS\xba\xbe', 1,
                         b'aes', b'xts-plain64', b'sha256', 4096, 64,
                         os.urandom(20), os.urandom(32), 1000)
    path = tmp_path / 'disk.luks'
    path.write_bytes(header.ljust(4096 * 512, b'\0') + os.urandom(65536))
    return str(path)


def test_tiny_qcow2_claiming_a_pebibyte_is_refused(tmp_path):
    path = qemu_create(tmp_path, 'huge.qcow2', 'qcow2', '1P')
    assert os.path.getsize(path) < 17 * 1024 * 1024  # the L1 table

    with pytest.raises(ImportFailure) as exc:
        disk.inspect(path, max_virtual_size=4 * 1024 ** 4)

    assert exc.value.code == 'virtual_too_large'
    assert exc.value.params['size'] == 1024 ** 5


def test_qed_is_refused(tmp_path):
    path = qemu_create(tmp_path, 'disk.qed', 'qed', '16M')
    with pytest.raises(ImportFailure) as exc:
        disk.inspect(path)
    assert exc.value.params == {'format': 'qed'}


def test_luks_is_refused(tmp_path):
    with pytest.raises(ImportFailure) as exc:
        disk.inspect(luks1_file(tmp_path))
    assert exc.value.params == {'format': 'luks'}


@pytest.mark.parametrize('subformat', ['monolithicFlat',
                                       'twoGbMaxExtentSparse'])
def test_vmdk_with_extent_files_is_refused(tmp_path, subformat):
    path = qemu_create(tmp_path, 'disk.vmdk', 'vmdk', '16M',
                       '-o', 'subformat=' + subformat)
    with pytest.raises(ImportFailure) as exc:
        disk.inspect(path)
    assert exc.value.code == 'unsafe_image'
    assert exc.value.params['format'] == 'vmdk'


def test_stream_optimized_vmdk_is_accepted(tmp_path):
    path = qemu_create(tmp_path, 'disk.vmdk', 'vmdk', '16M',
                       '-o', 'subformat=streamOptimized')
    assert disk.inspect(path).format == 'vmdk'


class Named:
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return self.name


def test_iso_that_is_also_gpt_counts_as_iso():
    iso = Named('iso')
    assert disk._one_format([Named('gpt'), iso]) is iso


def test_content_matching_two_formats_is_refused():
    with pytest.raises(ImportFailure) as exc:
        disk._one_format([Named('qcow2'), Named('vmdk')])
    assert exc.value.code == 'format_ambiguous'


def test_qcow2_with_external_data_file_is_refused(tmp_path):
    data = str(tmp_path / 'data.raw')
    path = qemu_create(tmp_path, 'disk.qcow2', 'qcow2', '16M',
                       '-o', 'data_file=' + data)
    with pytest.raises(ImportFailure) as exc:
        disk.inspect(path)
    assert exc.value.code == 'unsafe_image'
    assert 'data_file' in exc.value.params['checks']


def test_qcow2_with_unknown_incompatible_feature_is_refused(tmp_path):
    path, _data = images.make_qcow2(str(tmp_path))
    with open(path, 'r+b') as f:
        f.seek(72)            # incompatible_features, big endian
        f.write((1 << 40).to_bytes(8, 'big'))
    with pytest.raises(ImportFailure) as exc:
        disk.inspect(path)
    assert exc.value.code == 'unsafe_image'
    assert 'unknown_features' in exc.value.params['checks']
