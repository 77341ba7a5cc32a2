"""Unpacking a download: compression, tar and OVA, bombs and bad input.

The inputs are real: compressed by zlib, lzma, bz2 and zstandard (and by
the gzip, xz, bzip2 and zstd tools), archived by tarfile (and GNU tar), with
a qcow2 disk made by qemu-img. Bombs are 10 GiB of zeros compressed on
demand, as the unpacker reads them, so the test never holds them whole.
"""

import bz2
import gzip
import io
import itertools
import lzma
import os
import shutil
import struct
import subprocess
import tarfile
import tracemalloc
import zlib

import pytest
import zstandard

from image_importer.engine.errors import ImportFailure
from image_importer.engine import unpack
from image_importer import failures
from tools import images

MIB = 1 << 20
# The expansion ratio's own tests set it; here the output cap is tested.
LIMITS = unpack.Limits(max_output=64 * MIB, ratio_floor=1 << 40)
OVF1 = 'http://schemas.dmtf.org/ovf/envelope/1'
OVF2 = 'http://schemas.dmtf.org/ovf/envelope/2'


class Reader:
    """Serves chunks like a socket (what is there, at most ``most`` bytes
    a read) and counts the bytes it gave."""

    def __init__(self, chunks, most=None):
        self._chunks = iter(chunks)
        self._buffer = b''
        self._most = most
        self.consumed = 0
        self.eof = False

    def read(self, n):
        if self._most:
            n = min(n, self._most)
        while not self._buffer:
            more = next(self._chunks, None)
            if more is None:
                break
            self._buffer = more
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        self.consumed += len(data)
        self.eof = self.eof or not data
        return data


def read_all(unpacked):
    return b''.join(iter(lambda: unpacked.read(MIB), b''))


def unpack_bytes(data, limits=LIMITS, most=None):
    """Return ``(unpacked, output, reader)`` for ``data``."""
    reader = Reader([data], most)
    unpacked = unpack.open_stream(reader, limits)
    return unpacked, read_all(unpacked), reader


def failure(data, limits=LIMITS):
    with pytest.raises(ImportFailure) as exc:
        unpack_bytes(data, limits)
    return exc.value


@pytest.fixture(scope='module')
def qcow2(tmp_path_factory):
    path, _raw = images.make_qcow2(str(tmp_path_factory.mktemp('qcow2')),
                                   'vm-disk1.qcow2', size=MIB)
    with open(path, 'rb') as f:
        return f.read()


def halves(data):
    return data[:len(data) // 2], data[len(data) // 2:]


def zstd_stream(data):
    """A zstd frame written in streaming mode: no content size."""
    compressor = zstandard.ZstdCompressor(write_checksum=True).compressobj()
    return compressor.compress(data) + compressor.flush()


def zstd_skippable(payload):
    return struct.pack('<II', 0x184D2A53, len(payload)) + payload


COMPRESS = {
    'gzip': gzip.compress,
    'xz': lzma.compress,
    'bzip2': bz2.compress,
    'zstd': zstandard.ZstdCompressor(write_checksum=True).compress,
}

CONCATENATED = {
    'gzip': lambda a, b: gzip.compress(a) + gzip.compress(b, mtime=0),
    'xz': lambda a, b: (lzma.compress(a) + bytes(8) +
                        lzma.compress(b, check=lzma.CHECK_SHA256)),
    'bzip2': lambda a, b: bz2.compress(a) + bz2.compress(b, 1),
    'zstd': lambda a, b: (COMPRESS['zstd'](a) + zstd_skippable(b'note') +
                          zstd_stream(b)),
}


def test_uncompressed_input_passes_through(qcow2):
    unpacked, out, reader = unpack_bytes(qcow2, most=999)

    assert out == qcow2
    assert (unpacked.compression, unpacked.archive, unpacked.member) == (
        None, None, None)
    assert (reader.consumed, reader.eof) == (len(qcow2), True)


@pytest.mark.parametrize('compression', sorted(CONCATENATED))
def test_concatenated_streams_round_trip(qcow2, compression):
    data = CONCATENATED[compression](*halves(qcow2))

    unpacked, out, reader = unpack_bytes(data, most=999)

    assert out == qcow2
    assert unpacked.compression == compression
    assert unpacked.archive is None
    assert (reader.consumed, reader.eof) == (len(data), True)


@pytest.mark.parametrize('tool,compression', [
    ('gzip', 'gzip'), ('xz', 'xz'), ('bzip2', 'bzip2'), ('zstd', 'zstd')])
def test_files_made_by_the_command_line_tools(tmp_path, qcow2, tool,
                                              compression):
    # tools/test and CI install them; a missing one is a failure.
    assert shutil.which(tool), '%s is not installed' % tool
    path = tmp_path / 'disk.qcow2'
    path.write_bytes(qcow2)
    data = subprocess.run([tool, '-c', '-q', str(path)], check=True,
                          capture_output=True).stdout

    unpacked, out, _reader = unpack_bytes(data + data)

    assert out == qcow2 + qcow2
    assert unpacked.compression == compression


def test_a_stream_of_exactly_max_output_bytes_passes():
    data = os.urandom(100_000)

    assert unpack_bytes(gzip.compress(data),
                        unpack.Limits(max_output=100_000))[1] == data
    exc = failure(gzip.compress(data), unpack.Limits(max_output=99_999))
    assert (exc.code, exc.params) == ('unpacked_too_large',
                                      {'limit': 99_999})


def test_uncompressed_input_is_capped_too():
    exc = failure(bytes(1000), unpack.Limits(max_output=999))

    assert exc.code == 'unpacked_too_large'


class Bomb:
    """``prefix`` then ``size`` zero bytes, compressed as they are read:
    one piece of compressed data for each ``step`` bytes of zeros."""

    def __init__(self, compression, size=10 << 30, prefix=b'', step=MIB):
        self.compression = compression
        self.size = size
        self.prefix = prefix
        self.step = step
        self.compressed = 0

    def __iter__(self):
        compressor = {
            'gzip': lambda: zlib.compressobj(9, zlib.DEFLATED, 31),
            'xz': lambda: lzma.LZMACompressor(preset=0),
            'bzip2': lambda: bz2.BZ2Compressor(1),
            'zstd': lambda: zstandard.ZstdCompressor().compressobj(),
        }[self.compression]()
        yield compressor.compress(self.prefix)
        zeros = bytes(MIB)
        while self.compressed < self.size:
            piece = []
            for _ in range(self.step // MIB):
                piece.append(compressor.compress(zeros))
            self.compressed += self.step
            yield b''.join(piece)
        yield compressor.flush()


BOMBS = ['gzip', 'xz', 'bzip2', 'zstd']


@pytest.mark.parametrize('compression', BOMBS)
def test_a_bomb_is_refused_after_reading_a_little(compression):
    # Each read gets the compressed form of 32 MiB of zeros at most.
    bomb = Bomb(compression, step=32 * MIB)
    reader = Reader(bomb)
    tracemalloc.start()
    try:
        unpacked = unpack.open_stream(reader, LIMITS)
        with pytest.raises(ImportFailure) as exc:
            while unpacked.read(MIB):
                pass
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (exc.value.code, exc.value.params) == (
        'unpacked_too_large', {'limit': 64 * MIB})
    # 64 MiB of zeros is ~64 KiB of gzip (the least dense here); the whole
    # bomb is ~10 MB of gzip, ~1.5 MB of xz.
    assert reader.consumed < 128 * 1024
    assert bomb.compressed < 256 * MIB
    # Decoded in small steps: never a big piece of output at once.
    assert peak < 8 * MIB


@pytest.mark.parametrize('compression', BOMBS)
def test_a_bomb_inside_a_tar_is_refused_after_reading_a_little(compression):
    notes = tarfile.TarInfo('notes.txt')
    notes.size = 10 << 30
    bomb = Bomb(compression, notes.size, notes.tobuf(tarfile.GNU_FORMAT))
    reader = Reader(bomb, most=4096)

    with pytest.raises(ImportFailure) as exc:
        unpack.open_stream(reader, LIMITS)

    assert (exc.value.code, exc.value.params) == (
        'unpacked_too_large', {'limit': 64 * MIB})
    assert reader.consumed < 128 * 1024
    assert bomb.compressed < 256 * MIB


def test_a_tar_disk_larger_than_the_limit_is_refused_at_its_header():
    disk = tarfile.TarInfo('disk.raw')
    disk.size = 10 << 30
    reader = Reader(Bomb('zstd', disk.size, disk.tobuf(tarfile.PAX_FORMAT)),
                    most=4096)

    with pytest.raises(ImportFailure) as exc:
        unpack.open_stream(reader, LIMITS)

    assert exc.value.code == 'unpacked_too_large'
    assert reader.consumed < 8192


def test_the_xz_memory_limit_is_applied():
    data = lzma.compress(os.urandom(1000), preset=6)

    exc = failure(data, unpack.Limits(max_output=MIB, xz_memlimit=MIB))

    assert (exc.code, exc.params) == ('decoder_memory', {'compression': 'xz'})


def test_the_zstd_window_limit_is_applied():
    data = zstd_stream(os.urandom(3 * MIB))

    exc = failure(data, unpack.Limits(max_output=4 * MIB,
                                      zstd_max_window=MIB))

    assert (exc.code, exc.params) == ('decoder_memory',
                                      {'compression': 'zstd'})


@pytest.mark.parametrize('compression', sorted(CONCATENATED))
@pytest.mark.parametrize('keep', [0.5, -1])
def test_truncated_input_is_refused(compression, keep):
    data = CONCATENATED[compression](os.urandom(300_000), bytes(300_000))
    cut = int(len(data) * keep) if keep > 0 else len(data) + keep

    exc = failure(data[:cut])

    assert (exc.code, exc.params) == ('compressed_truncated',
                                      {'compression': compression})


@pytest.mark.parametrize('compression', sorted(CONCATENATED))
@pytest.mark.parametrize('garbage', ['x', 'not another stream', 'other'])
def test_trailing_garbage_is_refused(compression, garbage):
    tail = garbage.encode()
    if garbage == 'other':  # a stream of another format
        other = lzma.compress if compression == 'gzip' else gzip.compress
        tail = other(b'another format')
    data = COMPRESS[compression](os.urandom(10_000)) + tail

    exc = failure(data)

    assert (exc.code, exc.params) == ('trailing_garbage',
                                      {'compression': compression})


def test_xz_stream_padding_must_be_a_multiple_of_four():
    data = lzma.compress(b'disk') + bytes(3)

    exc = failure(data)

    assert (exc.code, exc.params['detail']) == ('compressed_corrupt',
                                                'stream padding')


@pytest.mark.parametrize('compression', sorted(COMPRESS))
def test_corrupt_data_is_refused(compression):
    data = bytearray(COMPRESS[compression](os.urandom(300_000)))
    data[len(data) // 2] ^= 0x55

    exc = failure(bytes(data))

    assert exc.code == 'compressed_corrupt'
    assert exc.params['compression'] == compression
    assert exc.params['detail']


def tar_bytes(*members, fmt=tarfile.PAX_FORMAT):
    """A tar of ``(name, bytes)`` or ``TarInfo`` members."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=fmt) as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def special(name, kind, linkname=''):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize('compression', [None, 'gzip', 'xz'])
def test_a_tar_with_a_raw_disk_gives_the_disk(compression):
    disk = os.urandom(MIB) + bytes(MIB)
    folder = 'image-' + 'x' * 100  # long: in pax headers
    data = tar_bytes(special(folder, tarfile.DIRTYPE),
                     (folder + '/README.txt', b'hello'),
                     (folder + '/disk.raw', disk),
                     (folder + '/disk.raw.SHA256', b'0' * 64))
    if compression:
        data = COMPRESS[compression](data)

    unpacked, out, reader = unpack_bytes(data)

    assert out == disk
    assert (unpacked.compression, unpacked.archive, unpacked.member) == (
        compression, 'tar', folder + '/disk.raw')
    assert (reader.consumed, reader.eof) == (len(data), True)


def test_the_whole_input_is_read_before_the_end(qcow2):
    data = tar_bytes(('disk.qcow2', qcow2), ('disk.md5', b'x'),
                     ('notes.txt', os.urandom(300_000)))
    reader = Reader([data])
    unpacked = unpack.open_stream(reader, LIMITS)

    while unpacked.read(MIB):
        pass

    assert (reader.consumed, reader.eof) == (len(data), True)


def ovf(href, namespace=OVF1, files=('other.vmdk',)):
    refs = ''.join('<File ovf:id="f%d" ovf:href="%s"/>' % (i, name)
                   for i, name in enumerate(files + (href,)))
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<Envelope xmlns="{ns}" xmlns:ovf="{ns}">'
            '<References>{refs}</References>'
            '<DiskSection><Info>disks</Info>'
            '<Disk ovf:diskId="vmdisk1" ovf:fileRef="f{n}"'
            ' ovf:capacity="4194304"/>'
            '<Disk ovf:diskId="vmdisk2" ovf:fileRef="f0"'
            ' ovf:capacity="1"/>'
            '</DiskSection>'
            '<VirtualSystem ovf:id="vm"><Info>a VM</Info></VirtualSystem>'
            '</Envelope>').format(ns=namespace, refs=refs,
                                  n=len(files)).encode()


@pytest.mark.parametrize('namespace', [OVF1, OVF2])
def test_an_ova_gives_the_disk_its_descriptor_names(qcow2, namespace):
    data = tar_bytes(('vm.ovf', ovf('vm-disk1.qcow2', namespace)),
                     ('other.vmdk', b'not this one'),
                     ('./vm-disk1.qcow2', qcow2),
                     ('vm.mf', b'SHA256(vm-disk1.qcow2)= 00'),
                     fmt=tarfile.USTAR_FORMAT)

    unpacked, out, reader = unpack_bytes(data)

    assert out == qcow2
    assert (unpacked.compression, unpacked.archive, unpacked.member) == (
        None, 'ova', 'vm-disk1.qcow2')
    assert (reader.consumed, reader.eof) == (len(data), True)


def test_an_ova_without_its_named_disk_is_refused():
    data = tar_bytes(('vm.ovf', ovf('vm-disk1.qcow2')),
                     ('other.vmdk', b'not this one'))

    assert failure(data).code == 'archive_no_disk'


@pytest.mark.parametrize('descriptor,detail', [
    (b'<Envelope', 'unclosed token'),
    (b'<Envelope xmlns="urn:other"/>', 'not an OVF envelope'),
    (('<Envelope xmlns="%s"><References/></Envelope>' % OVF1).encode(),
     'no disk'),
    (b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaa">]>'
     b'<Envelope>&a;</Envelope>', 'DTDForbidden'),
    (ovf('disk.vmdk').replace(b'ovf:href="disk.vmdk"',
                              b'ovf:href="disk.vmdk" ovf:compression="gzip"'),
     'compressed or chunked disk file'),
    (ovf('disk.vmdk').replace(b'fileRef="f1"', b'fileRef="f9"'),
     'disk file not referenced'),
])
def test_an_invalid_descriptor_is_refused(descriptor, detail):
    data = tar_bytes(('vm.ovf', descriptor), ('disk.vmdk', b'disk'))

    exc = failure(data)

    assert exc.code == 'ova_invalid'
    assert detail in exc.params['detail']


def test_a_descriptor_over_its_limit_is_refused():
    data = tar_bytes(('vm.ovf', ovf('disk.vmdk') + b' ' * 2000),
                     ('disk.vmdk', b'disk'))

    exc = failure(data, unpack.Limits(max_output=MIB, max_descriptor=2000))

    assert (exc.code, exc.params) == ('ova_invalid',
                                      {'detail': 'descriptor too large'})


def test_a_descriptor_that_is_not_first_is_refused():
    data = tar_bytes(('disk.vmdk', b'disk'), ('vm.ovf', ovf('disk.vmdk')))

    with pytest.raises(ImportFailure) as exc:
        read_all(unpack.open_stream(Reader([data]), LIMITS))

    assert exc.value.code == 'ova_invalid'


@pytest.mark.parametrize('member,reason', [
    (special('link', tarfile.SYMTYPE, 'disk.raw'), 'symlink'),
    (special('hard', tarfile.LNKTYPE, 'disk.raw'), 'hardlink'),
    (special('dev', tarfile.CHRTYPE), 'device'),
    (special('blk', tarfile.BLKTYPE), 'device'),
    (special('pipe', tarfile.FIFOTYPE), 'fifo'),
    (('../x', b'x'), 'parent'),
    (('a/../../x', b'x'), 'parent'),
    (('/abs', b'x'), 'absolute'),
])
def test_unsafe_members_are_refused(member, reason):
    name = member[0] if isinstance(member, tuple) else member.name
    data = tar_bytes(('disk.raw', b'disk'), member)

    with pytest.raises(ImportFailure) as exc:
        read_all(unpack.open_stream(Reader([data]), LIMITS))

    assert (exc.value.code, exc.value.params) == (
        'archive_unsafe_member', {'name': name, 'reason': reason})


@pytest.mark.parametrize('options', [
    ['--format=oldgnu'],            # GCE's disk.raw in a tar.gz
    ['--format=gnu'],
    ['--format=posix', '--sparse-version=0.0'],
    ['--format=posix', '--sparse-version=0.1'],
    ['--format=posix', '--sparse-version=1.0'],
])
@pytest.mark.parametrize('compress', [False, True])
def test_a_sparse_member_made_by_gnu_tar_gives_its_disk(
        tmp_path, options, compress):
    assert shutil.which('tar'), 'GNU tar is not installed'
    with open(tmp_path / 'disk.raw', 'wb') as f:
        f.write(b'boot' * 1024)
        f.seek(5 * MIB)
        f.write(os.urandom(64 * 1024))
        f.truncate(16 * MIB)
    subprocess.run(['tar', *options, '--sparse', '-cf', 'disk.tar',
                    'disk.raw'], cwd=tmp_path, check=True)
    data = (tmp_path / 'disk.tar').read_bytes()
    assert len(data) < MIB          # the holes are not in the archive
    if compress:
        data = gzip.compress(data)

    unpacked, output, _reader = unpack_bytes(data)

    assert (unpacked.archive, unpacked.member) == ('tar', 'disk.raw')
    assert output == (tmp_path / 'disk.raw').read_bytes()


def test_a_sparse_member_larger_than_the_limit_is_refused(tmp_path):
    with open(tmp_path / 'disk.raw', 'wb') as f:
        f.write(b'boot')
        f.truncate(LIMITS.max_output + 1)
    subprocess.run(['tar', '--format=oldgnu', '--sparse', '-cf',
                    'disk.tar', 'disk.raw'], cwd=tmp_path, check=True)

    exc = failure((tmp_path / 'disk.tar').read_bytes())

    assert exc.code == 'unpacked_too_large'


def test_too_many_members_are_refused():
    data = tar_bytes(('disk.raw', b'disk'),
                     *[('%d.txt' % i, b'') for i in range(5)])

    with pytest.raises(ImportFailure) as exc:
        read_all(unpack.open_stream(
            Reader([data]), unpack.Limits(max_output=MIB, max_members=5)))

    assert (exc.value.code, exc.value.params) == (
        'archive_too_many_members', {'limit': 5})


def test_a_tar_without_a_disk_is_refused():
    data = tar_bytes(('README.md', b'x'), ('SHA256SUMS.asc', b'x'))

    assert failure(data).code == 'archive_no_disk'


def test_a_tar_with_two_disks_is_refused_once_the_second_shows():
    data = tar_bytes(('a.raw', b'first'), ('b.qcow2', b'second'))
    unpacked = unpack.open_stream(Reader([data]), LIMITS)

    assert unpacked.read(MIB) == b'first'
    with pytest.raises(ImportFailure) as exc:
        unpacked.read(MIB)
    assert (exc.value.code, exc.value.params) == (
        'archive_several_disks', {'names': 'a.raw, b.qcow2'})
    with pytest.raises(ImportFailure):
        unpacked.read(MIB)


def test_data_after_the_end_of_a_tar_is_refused():
    data = tar_bytes(('disk.raw', b'disk')) + b'hidden'

    exc = failure(data)

    assert (exc.code, exc.params) == (
        'archive_corrupt', {'detail': 'data after the end of the archive'})


def test_a_truncated_tar_is_refused():
    data = tar_bytes(('disk.raw', os.urandom(100_000)))

    exc = failure(data[:50_000])

    assert exc.code == 'archive_corrupt'


def extended_header(kind, size):
    """A member header of ``kind`` (pax 'x', GNU long name 'L', ...)
    announcing ``size`` bytes of extended data."""
    header = tarfile.TarInfo('././@Extended')
    header.type = kind
    header.size = size
    return header.tobuf(tarfile.USTAR_FORMAT)


@pytest.mark.parametrize('kind', [tarfile.XHDTYPE, tarfile.XGLTYPE,
                                  tarfile.GNUTYPE_LONGNAME,
                                  tarfile.GNUTYPE_LONGLINK])
def test_a_huge_extended_header_is_refused_before_it_is_read(kind):
    # 400 MiB of header in about 400 KiB of gzip: tarfile would read it
    # whole into memory.
    size = 400 * MIB
    bomb = Bomb('gzip', size, extended_header(kind, size))
    reader = Reader(bomb, most=4096)
    tracemalloc.start()
    try:
        with pytest.raises(ImportFailure) as exc:
            unpack.open_stream(reader, LIMITS)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert exc.value.code == 'archive_header_too_large'
    assert exc.value.params == {
        'kind': 'long link name' if kind == tarfile.GNUTYPE_LONGLINK
        else 'long name' if kind == tarfile.GNUTYPE_LONGNAME else 'pax',
        'size': size, 'limit': 64 * 1024}
    assert reader.consumed < 64 * 1024
    assert peak < 4 * MIB
    message = failures.describe(exc.value.code, exc.value.params)
    assert '400.0\xa0MB' in message and '64.0\xa0KB' in message


def test_an_extended_header_within_the_bound_is_read():
    long_name = 'd/' * 1000 + 'disk.raw'      # a 2 KiB pax path
    data = os.urandom(4096)
    unpacked, output, _reader = unpack_bytes(tar_bytes((long_name, data)))
    assert output == data
    assert unpacked.member == long_name[:255]


def test_a_chain_of_extended_headers_is_refused():
    chain = b''
    for index in range(unpack.MAX_EXTENDED_CHAIN + 1):
        record = b'%d comment=%d\n' % (len(b'%d comment=x\n') + len(
            str(index)), index)
        header = extended_header(tarfile.XHDTYPE, len(record))
        chain += header + record.ljust(512, b'\0')
    exc = failure(chain + tar_bytes(('disk.raw', b'x' * 512)))
    assert exc.code == 'archive_corrupt'
    assert 'extended headers' in exc.params['detail']


@pytest.mark.parametrize('piece', [b'', b'%011o\0%011o\0' % (1, 1)])
def test_a_gnu_sparse_map_is_read_within_its_bound(piece):
    # An old-GNU sparse member whose map goes on in extension blocks,
    # empty or full of pieces, for 64 MiB.
    info = tarfile.TarInfo('disk.raw')
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = 0
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    header[482] = 1      # "isextended": more map blocks follow
    header[148:156] = b'        '
    checksum = sum(header)
    header[148:156] = b'%06o\0 ' % checksum
    extension = bytearray((piece * 21).ljust(512, b'\0'))
    extension[504] = 1   # and more, 64 MiB of them
    reader = Reader(itertools.chain([bytes(header)],
                                    [bytes(extension) * 2048] * 64))

    with pytest.raises(ImportFailure) as exc:
        unpack.open_stream(reader, LIMITS)

    assert exc.value.code == 'archive_sparse_map'
    assert exc.value.params == {'name': 'disk.raw', 'limit': 65536}
    assert reader.consumed < 4 * MIB


@pytest.mark.parametrize('count', [b'70000', b'99999999999999999999'])
def test_a_pax_sparse_map_is_read_within_its_bound(count):
    disk = tarfile.TarInfo('disk.raw')
    disk.pax_headers = {'GNU.sparse.major': '1', 'GNU.sparse.minor': '0',
                        'GNU.sparse.name': 'disk.raw',
                        'GNU.sparse.realsize': '1000000'}
    disk.size = 512
    data = disk.tobuf(tarfile.PAX_FORMAT) + (count + b'\n').ljust(512, b'\0')

    exc = failure(data + bytes(1024))

    assert exc.code == 'archive_sparse_map'


def test_a_malformed_pax_record_is_a_corrupt_archive():
    # Found by fuzzing: tarfile raised ValueError on an empty sparse map,
    # which is no documented failure (the worker called it internal).
    disk = tarfile.TarInfo('disk.raw')
    disk.pax_headers = {'GNU.sparse.map': ''}
    exc = failure(disk.tobuf(tarfile.PAX_FORMAT) + bytes(1024))
    assert exc.code == 'archive_corrupt'


@pytest.mark.parametrize('compression', ['zstd', 'xz', 'bzip2'])
def test_a_bomb_under_the_size_limit_fails_as_a_bomb_having_read_little(
        compression):
    # The limit on output is far away (64 GiB, as a cloud would set it):
    # the expansion ratio stops the bomb once past its first 64 MiB.
    limits = unpack.Limits(max_output=64 << 30)
    bomb = Bomb(compression, size=4 << 30, step=16 * MIB)
    reader = Reader(bomb, most=64 * 1024)
    with pytest.raises(ImportFailure) as exc:
        read_all(unpack.open_stream(reader, limits))

    assert exc.value.code == 'decompression_bomb'
    assert exc.value.params['ratio'] == 4096
    assert exc.value.params['size'] > 64 * MIB
    assert reader.consumed < 64 * MIB // 4096 + 4 * MIB
    assert bomb.compressed <= 512 * MIB
    assert 'expands more than 4096 times' in failures.describe(
        exc.value.code, exc.value.params)


def test_a_mostly_empty_disk_is_no_bomb():
    # 256 MiB of raw disk, 256 KiB of it data, as xz: expands about a
    # thousand times, within the bound.
    data = os.urandom(256 * 1024) + bytes(256 * MIB)
    compressed = lzma.compress(data, preset=0)
    assert 500 < len(data) // len(compressed) < 4096
    _unpacked, output, _reader = unpack_bytes(
        compressed, unpack.Limits(max_output=1 << 30))
    assert output == data
