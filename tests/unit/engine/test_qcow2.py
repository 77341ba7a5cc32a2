"""engine.qcow2: placing a qcow2's disk from the part of the file that
arrived, checked against real qemu-img images and ``qemu-img map``."""

import contextlib
import os
import signal
import struct
import subprocess

import pytest

from image_importer.engine import disk
from image_importer.engine.errors import ImportFailure
from image_importer.engine import pipeline
from image_importer.engine import qcow2
from tools import images

MiB = 1024 * 1024


def qemu_io(path, *commands):
    args = ['qemu-io', '-f', 'qcow2']
    for command in commands:
        args += ['-c', command]
    subprocess.run(args + [path], check=True, stdout=subprocess.DEVNULL)


def arriving(path, step=MiB):
    """Run a Layout over ``path`` as if it arrived ``step`` bytes at a
    time; returns (the extents it found, merged; the disk's position
    each time)."""
    layout = qcow2.Layout()
    found, positions = [], []
    size = os.path.getsize(path)
    with open(path, 'rb', buffering=0) as f:
        def read(offset, length):
            return os.pread(f.fileno(), length, offset)
        for available in list(range(step, size, step)) + [size]:
            for extent in layout.advance(available, read):
                qcow2.merge(found, *extent)
            positions.append((available, layout.position))
    return layout, found, positions


def disk_of(path, found):
    return b''.join(disk.read_extents(path, found))


def test_a_qcow2_written_in_disk_order_is_placed_as_it_arrives(tmp_path):
    path, data = images.make_qcow2(str(tmp_path), size=24 * MiB)
    size = os.path.getsize(path)

    layout, found, positions = arriving(path)

    # Half way through the file, all but its metadata is placed (the
    # disk is data in its first half).
    [(available, half)] = [(available, position)
                           for available, position in positions
                           if available == (size // 2) // MiB * MiB]
    assert available - MiB < half <= available
    assert layout.position == layout.size == len(data)
    assert disk_of(path, found) == data
    assert disk.agrees(path, found, disk.extents(path, disk.inspect(path)))


def test_every_kind_of_cluster_reads_as_qemu_img_convert_reads_it(
        tmp_path):
    """Data, zero-flagged, unallocated and preallocated-zero clusters,
    and a disk ending inside a cluster."""
    path = str(tmp_path / 'disk.qcow2')
    images.qemu_img('create', '-f', 'qcow2', path, str(9 * MiB + 512))
    qemu_io(path, 'write -P 0xab 0 1M', 'write -P 0xcd 3M 2M',
            'write -z 3M 64k', 'write -P 0xef 9M 512')
    prealloc = str(tmp_path / 'prealloc.qcow2')
    images.qemu_img('create', '-f', 'qcow2', '-o', 'preallocation=metadata',
                    prealloc, '4M')
    qemu_io(prealloc, 'write -P 0x11 0 4M', 'write -z 1M 1M')

    for image in (path, prealloc):
        _layout, found, _positions = arriving(image, step=64 * 1024)
        assert disk_of(image, found) == images.to_raw_bytes(image, 'qcow2')
        assert {offset is None for _length, offset in found} == {True, False}
        assert disk.agrees(image, found,
                           disk.extents(image, disk.inspect(image)))


def test_a_version_2_qcow2_is_read_too(tmp_path):
    path = str(tmp_path / 'v2.qcow2')
    images.qemu_img('create', '-f', 'qcow2', '-o', 'compat=0.10', path, '4M')
    qemu_io(path, 'write -P 0x22 1M 1M')

    _layout, found, _positions = arriving(path)

    assert disk_of(path, found) == bytes(MiB) + b'\x22' * MiB + bytes(2 * MiB)


def test_nothing_is_placed_before_the_header_and_l1_table_arrive(tmp_path):
    path, _data = images.make_qcow2(str(tmp_path), size=4 * MiB)
    layout = qcow2.Layout()
    with open(path, 'rb') as f:
        content = f.read()

    assert layout.advance(64, lambda o, n: content[o:o + n]) == []
    assert layout.size is None


def test_a_data_cluster_not_yet_arrived_stops_the_layout_there(tmp_path):
    path, data = images.make_qcow2(str(tmp_path), size=4 * MiB)
    with open(path, 'rb') as f:
        content = f.read()
    layout = qcow2.Layout()

    def read(offset, length):
        return content[offset:offset + length]

    first = layout.advance(len(content) - 65536, read)
    held = layout.position
    rest = layout.advance(len(content), read)

    # The last data cluster is what was missing (the disk is half data).
    assert held == 2 * MiB - 65536
    assert sum(length for length, _offset in first) == held
    assert sum(length for length, _offset in rest) == len(data) - held


def test_compressed_clusters_are_left_to_qemu(tmp_path):
    path = images.make_sparse_qcow2(str(tmp_path), 'c.qcow2', 8 * MiB,
                                    data=MiB, compressed=True)

    with pytest.raises(qcow2.NotStreamable, match='compressed'):
        arriving(path)


def patched(path, offset, fmt, value):
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))


@pytest.mark.parametrize('offset, fmt, value, words', [
    (0, '>I', 0x51464900, 'not a qcow2'),                 # magic
    (4, '>I', 4, 'not a qcow2'),                          # version
    (8, '>Q', 4096, 'backing file'),                      # backing file
    (32, '>I', 1, 'encryption'),                          # AES
    (20, '>I', 9, 'cluster size'),                        # 512 B clusters
    (72, '>Q', 1 << 4, 'incompatible features'),          # extended L2
    (72, '>Q', 1 << 2, 'incompatible features'),          # external data
])
def test_headers_it_does_not_read_are_left_to_qemu(
        tmp_path, offset, fmt, value, words):
    path, _data = images.make_qcow2(str(tmp_path), size=4 * MiB)
    patched(path, offset, fmt, value)

    with pytest.raises(qcow2.NotStreamable, match=words):
        arriving(path)


def l2_entry_offset(path):
    """The file offset of the first L2 table's first entry."""
    with open(path, 'rb') as f:
        header = f.read(qcow2.V3_HEADER)
        l1_offset = struct.unpack_from('>Q', header, 40)[0]
        f.seek(l1_offset)
        return struct.unpack('>Q', f.read(8))[0] & qcow2.OFFSET_MASK


@pytest.mark.parametrize('bits, words', [
    (1 << 57, 'reserved bits'),           # a reserved bit
    (512, 'misaligned'),                  # an offset inside a cluster
])
def test_l2_entries_it_does_not_read_are_left_to_qemu(tmp_path, bits,
                                                      words):
    path, _data = images.make_qcow2(str(tmp_path), size=4 * MiB)
    entry = l2_entry_offset(path)
    with open(path, 'rb') as f:
        f.seek(entry)
        value = struct.unpack('>Q', f.read(8))[0]
    patched(path, entry, '>Q', value | bits)

    with pytest.raises(qcow2.NotStreamable, match=words):
        arriving(path)


def test_agrees_finds_where_a_layout_differs_from_qemus_map(tmp_path):
    path = str(tmp_path / 'disk.qcow2')
    images.qemu_img('create', '-f', 'qcow2', path, '4M')
    qemu_io(path, 'write -P 0x33 0 1M', 'write -P 0x44 2M 1M')
    theirs = disk.extents(path, disk.inspect(path))
    _layout, ours, _positions = arriving(path)
    (length, offset), rest = ours[0], ours[1:]

    assert disk.agrees(path, ours, theirs)
    assert disk.agrees(path, ours[:1], theirs)          # a start of it
    # Data somewhere else in the file; zeros where QEMU has data; data
    # (not zeros) where QEMU has zeros; more disk than QEMU's.
    assert not disk.agrees(path, [(length, offset + 65536)] + rest, theirs)
    assert not disk.agrees(path, [(length, None)] + rest, theirs)
    assert not disk.agrees(path, ours[:1] + [(MiB, offset)], theirs)
    assert not disk.agrees(path, ours + [(65536, None)], theirs)


def test_agrees_takes_placed_zeros_where_qemu_says_zeros(tmp_path):
    """A map that calls a placed cluster of zeros zeros (as a map that
    sees the work file's holes would) agrees: both read zeros."""
    path = str(tmp_path / 'disk.qcow2')
    images.qemu_img('create', '-f', 'qcow2', path, '4M')
    qemu_io(path, 'write -P 0x55 0 2M', 'write -P 0x00 1M 64k')
    _layout, ours, _positions = arriving(path)
    [(length, offset), rest] = ours
    theirs = [(MiB, offset), (65536, None),
              (length - MiB - 65536, offset + MiB + 65536), rest]

    assert disk.agrees(path, ours, theirs)
    # The same where the file holds data: no.
    theirs[1:3] = [(MiB - 65536, offset + MiB), (65536, None)]
    assert not disk.agrees(path, ours, theirs)


# -- hostile layouts: bounded work, whatever the header claims --------------

PiB = 1024 ** 5


@contextlib.contextmanager
def deadline(seconds):
    """Fail (rather than hang) if the block runs longer than ``seconds``:
    the bound on work this code must keep is orders of magnitude below."""
    def expired(signum, frame):
        raise AssertionError('still running after %s s' % seconds)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_zero_table_for_everything(path, size=64 * PiB, bits=21):
    return images.make_qcow2_of_one_zero_table(path, size, bits)


def test_a_huge_disk_is_refused_from_its_header_before_any_table(
        tmp_path):
    path = one_zero_table_for_everything(str(tmp_path / 'huge.qcow2'))
    raw = pipeline._RawFromQcow2(path, max_virtual_size=4 * 1024 ** 4)

    with deadline(5), pytest.raises(ImportFailure) as refused:
        next(raw.chunks(os.path.getsize(path)))

    assert refused.value.code == 'virtual_too_large'
    assert refused.value.params['size'] == 64 * PiB
    assert raw.done == 0


def test_zero_runs_are_stepped_over_whole(tmp_path):
    path = one_zero_table_for_everything(str(tmp_path / 'zeros.qcow2'))
    content = open(path, 'rb').read()

    def read(offset, size):
        return content[offset:offset + size]

    layout = qcow2.Layout()
    with deadline(5):
        # One bounded step: 64 MiB of the disk, whatever it claims.
        assert layout.advance(len(content), read, 64 * MiB) == [
            (64 * MiB, None)]
        # The rest, unbounded: one step for each of the 131,072 tables.
        assert layout.advance(len(content), read) == [
            (64 * PiB - 64 * MiB, None)]
    assert layout.position == layout.size == 64 * PiB


def test_a_step_places_at_most_its_limit_of_data(tmp_path):
    path, data = images.make_qcow2(str(tmp_path), size=8 * MiB)
    content = open(path, 'rb').read()
    layout = qcow2.Layout()

    steps = []
    while layout.position < len(data):
        found = layout.advance(len(content), lambda o, n: content[o:o + n],
                               MiB)
        steps.append(sum(length for length, _offset in found))

    assert steps == [MiB] * 8


def test_a_disk_in_too_many_pieces_is_left_to_qemu(tmp_path, monkeypatch):
    from image_importer.engine import pipeline

    # Clusters written in the reverse order of the disk: no two extents
    # of the file join, so each costs the worker a list entry.
    path = str(tmp_path / 'reversed.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-o',
                    'cluster_size=4096', path, '64K'], check=True)
    qemu_io(path, *['write -P %d %d 4k' % (index + 1, index * 4096)
                    for index in range(15, -1, -1)])
    monkeypatch.setattr(disk, 'MAX_EXTENTS', 8)
    raw = pipeline._RawFromQcow2(path, None)

    with pytest.raises(qcow2.NotStreamable):
        list(raw.chunks(os.path.getsize(path)))
    assert len(raw.sent) <= 9
