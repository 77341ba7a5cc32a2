"""Real disk images made with qemu-img from known bytes."""

import os
import struct
import subprocess

from image_importer.engine import qcow2


def random_raw(path, size=4 * 1024 * 1024):
    """A raw disk whose first half is random bytes, second half zeros."""
    half = size // 2
    data = os.urandom(half) + bytes(size - half)
    with open(path, 'wb') as f:
        f.write(data)
    return data


def qemu_img(*args):
    subprocess.run(['qemu-img', *args], check=True, capture_output=True)


def make_qcow2(directory, name='disk.qcow2', size=4 * 1024 * 1024):
    """Return ``(qcow2_path, original_raw_bytes)``."""
    raw = os.path.join(directory, name + '.raw')
    data = random_raw(raw, size)
    path = os.path.join(directory, name)
    qemu_img('convert', '-f', 'raw', '-O', 'qcow2', raw, path)
    os.unlink(raw)
    return path, data


def make_sparse_qcow2(directory, name, virtual_size, data=1024 * 1024,
                      compressed=False):
    """A qcow2 of ``virtual_size`` bytes that holds only ``data`` random
    bytes: small to serve, large once converted to raw. ``compressed``:
    the bytes repeat a random 1 KiB block, in compressed clusters (which
    only QEMU can read). qcow2 compresses with a 4 KiB window: a repeated
    4 KiB block did not shrink, and QEMU then stored one image in six
    uncompressed."""
    raw = os.path.join(directory, name + '.raw')
    with open(raw, 'wb') as f:
        if compressed:
            f.write(os.urandom(1024) * (data // 1024))
        else:
            f.write(os.urandom(data))
        f.truncate(virtual_size)
    path = os.path.join(directory, name)
    qemu_img('convert', '-f', 'raw', '-O', 'qcow2',
             *(['-c'] if compressed else []), raw, path)
    os.unlink(raw)
    return path


def make_qcow2_with_backing_file(directory, name='overlay.qcow2'):
    base, _data = make_qcow2(directory, 'base-for-' + name)
    path = os.path.join(directory, name)
    qemu_img('create', '-f', 'qcow2', '-F', 'qcow2', '-b', base, path)
    return path


def to_raw_bytes(path, fmt):
    """Convert any image file to raw and return its bytes."""
    raw = path + '.as-raw'
    qemu_img('convert', '-f', fmt, '-O', 'raw', path, raw)
    try:
        with open(raw, 'rb') as f:
            return f.read()
    finally:
        os.unlink(raw)


def make_qcow2_of_one_zero_table(path, size, bits=21):
    """A qcow2 of a ``size`` disk in 2 MiB clusters whose every L1 entry
    names the same L2 table, which is all zeros: 6 MiB of file."""
    cluster = 1 << bits
    entries = cluster // 8
    l1_size = -(-size // (cluster * entries))
    header = qcow2._V2.pack(qcow2.MAGIC, 3, 0, 0, bits, size, 0, l1_size,
                            cluster, 0, 0, 0, 0)
    header += qcow2._V3.pack(0, 0, 0, 4, qcow2.V3_HEADER)
    with open(path, 'wb') as f:
        f.write(header)
        f.seek(cluster)
        f.write(struct.pack('>%dQ' % l1_size, *[2 * cluster] * l1_size))
        f.truncate(3 * cluster)
    return path
