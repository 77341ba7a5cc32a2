"""Format inspection and conversion with the real qemu-img."""

import os

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


def test_unknown_target_cannot_be_converted(tmp_path):
    path, _data = images.make_qcow2(str(tmp_path))
    with pytest.raises(ImportFailure) as exc:
        disk.convert(path, disk.inspect(path), str(tmp_path / 'o'), 'iso',
                     lambda d, t: None)
    assert exc.value.code == 'cannot_convert'
