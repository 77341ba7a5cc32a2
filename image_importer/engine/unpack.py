"""Find the disk image inside a download: decompress, then unpack a tar/OVA.

Everything streams: the input is pulled in bounded chunks, decoded in
bounded steps and handed on; nothing is written to disk and no archive
member is ever extracted by name. ``open_stream`` reads just enough to find
the disk image; ``Unpacked.read`` returns its bytes and then, before its
final b'', reads the rest of the input and checks it, so every input byte
passes through the caller's reader (which may hash them).

Compression is told by magic bytes only: gzip (members), xz (streams, with
stream padding), bzip2 (streams) and zstd (frames, skippable ones too),
each possibly concatenated. An archive is a ustar-format tar, found by its
magic in the decompressed data. Sparse members (GNU old-style, PAX 0.0,
0.1 and 1.0: ``tar -S``) stream their holes as zeros.
"""

import bz2
import dataclasses
import itertools
import lzma
import posixpath
import tarfile
import zlib

import defusedxml.ElementTree
import zstandard

from image_importer.engine.errors import ImportFailure

CHUNK = 256 * 1024
# Decompressed bytes an archive may hold besides its disk image (headers,
# padding, small metadata files), on top of the OVF descriptor.
ARCHIVE_SLACK = 2 * 1024 * 1024
ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'
MAGIC = {'gzip': b'\x1f\x8b', 'xz': b'\xfd7zXZ\x00', 'bzip2': b'BZh',
         'zstd': ZSTD_MAGIC}
ZSTD_SKIPPABLE = b'\x2a\x4d\x18'
ZSTD_BLOCK_MAX = 128 * 1024
OVF_NAMESPACES = ('http://schemas.dmtf.org/ovf/envelope/1',
                  'http://schemas.dmtf.org/ovf/envelope/2')
METADATA_SUFFIXES = ('.ovf', '.mf', '.cert', '.txt', '.md', '.json', '.xml',
                     '.sha1', '.sha256', '.sha512', '.md5', '.sig', '.asc')
DECODE_ERRORS = (zlib.error, lzma.LZMAError, OSError, EOFError)


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much unpacking a download may take."""

    max_output: int                 # bytes of disk image produced, at most
    # Past ``ratio_floor`` bytes of output, a compressed file may expand
    # at most ``max_ratio`` times (output / input read so far): a bomb
    # fails as one, having read little, and the source never waits long
    # while the worker digests what a few bytes became. gzip cannot pass
    # 1:1032; a real disk image, even mostly empty, stays far below.
    max_ratio: int = 4096
    ratio_floor: int = 64 << 20
    max_members: int = 64           # tar members
    max_descriptor: int = 1 << 20   # OVF file size
    xz_memlimit: int = 256 << 20    # lzma decoder memory
    zstd_max_window: int = 1 << 27  # zstd window (128 MiB)


class Unpacked:
    """The disk image in a download: call ``read(n)`` until it gives b''.

    ``compression`` is None, 'gzip', 'xz', 'bzip2' or 'zstd'; ``archive``
    None, 'tar' or 'ova'; ``member`` the archive member taken (for display)
    or None. After a failure, every later ``read`` raises it again.
    """

    def __init__(self, compression, archive, member, chunks):
        self.compression = compression
        self.archive = archive
        self.member = member
        self._data = _chunked(chunks)
        self._failure = None

    def read(self, n=CHUNK):
        if self._failure is not None:
            raise self._failure
        try:
            return self._data.read(n)
        except Exception as exc:
            self._failure = exc
            raise


def open_stream(reader, limits):
    """Start unpacking ``reader`` (``read(n)``, b'' at the end)."""
    source = _Counted(reader.read)
    raw = _Buffered(source.read)
    head = raw.peek(6)
    compression = None
    for name, magic in MAGIC.items():
        if head.startswith(magic):
            compression = name
    if compression is None:
        decoded = _chunked(_passthrough(raw))
    elif compression == 'zstd':
        decoded = _chunked(_ratio_bounded(
            _zstd_frames(raw, limits), source, compression, limits))
    else:
        decoded = _chunked(_ratio_bounded(
            _streams(raw, compression, limits), source, compression, limits))
    if decoded.peek(262)[257:] == b'ustar':
        archive = _Archive(decoded, limits)
        return Unpacked(compression, archive.kind, archive.member,
                        archive.chunks())
    return Unpacked(compression, None, None,
                    _capped(decoded, limits.max_output))


class _Counted:
    """A ``read(n)`` that counts the bytes it gave."""

    def __init__(self, read):
        self._read = read
        self.count = 0

    def read(self, n):
        data = self._read(n)
        self.count += len(data)
        return data


def _ratio_bounded(chunks, source, compression, limits):
    """Pass decoded ``chunks`` on while they stay within the limits'
    expansion ratio of the input ``source`` has given."""
    done = 0
    for chunk in chunks:
        done += len(chunk)
        if done > limits.ratio_floor and (
                done > limits.max_ratio * source.count):
            raise ImportFailure('decompression_bomb',
                                compression=compression,
                                ratio=limits.max_ratio, done=source.count,
                                size=done)
        yield chunk


class _Buffered:
    """A byte stream with look-ahead that loses no bytes."""

    def __init__(self, read):
        self._read = read
        self._data = b''
        self._pos = 0

    def peek(self, n):
        """The next ``n`` bytes, left unread (fewer only at the end)."""
        while len(self._data) - self._pos < n:
            more = self._read(n - len(self._data) + self._pos)
            if not more:
                break
            self._data = self._data[self._pos:] + more
            self._pos = 0
        return self._data[self._pos:self._pos + n]

    def read(self, n):
        if self._pos == len(self._data):
            self._data, self._pos = self._read(n), 0
        data = self._data[self._pos:self._pos + n]
        self._pos += len(data)
        return data

    def unread(self, data):
        self._data = data + self._data[self._pos:]
        self._pos = 0


def _chunked(chunks):
    """A ``_Buffered`` stream of the byte strings ``chunks`` yields."""
    return _Buffered(lambda _size: next(chunks, b''))


def _passthrough(stream):
    return iter(lambda: stream.read(CHUNK), b'')


def _capped(stream, limit):
    """Pass ``stream`` on, refusing more than ``limit`` bytes."""
    total = 0
    for chunk in _passthrough(stream):
        total += len(chunk)
        if total > limit:
            raise ImportFailure('unpacked_too_large', limit=limit)
        yield chunk


class _Gzip:
    """zlib's gzip decoder with the interface of lzma's and bz2's."""

    def __init__(self):
        self._zlib = zlib.decompressobj(wbits=31)
        self.needs_input = True

    @property
    def eof(self):
        return self._zlib.eof

    @property
    def unused_data(self):
        return self._zlib.unused_data

    def decompress(self, data, max_length):
        out = self._zlib.decompress(self._zlib.unconsumed_tail + data,
                                    max_length)
        self.needs_input = (not self._zlib.unconsumed_tail and
                            len(out) < max_length)
        return out


DECODERS = {
    'gzip': lambda limits: _Gzip(),
    'xz': lambda limits: lzma.LZMADecompressor(
        lzma.FORMAT_XZ, memlimit=limits.xz_memlimit),
    'bzip2': lambda limits: bz2.BZ2Decompressor(),
}


def _decode_failure(compression, exc):
    # Neither liblzma nor libzstd errors carry a code, only this text.
    if 'memory' in str(exc).lower():
        return ImportFailure('decoder_memory', compression=compression)
    return ImportFailure('compressed_corrupt', compression=compression,
                         detail=str(exc))


def _streams(raw, compression, limits):
    """Decode gzip members, xz or bzip2 streams, one after another."""
    magic = MAGIC[compression]
    while raw.peek(len(magic)) == magic:
        decoder = DECODERS[compression](limits)
        while not decoder.eof:
            data = b''
            if decoder.needs_input:
                data = raw.read(CHUNK)
                if not data:
                    raise ImportFailure('compressed_truncated',
                                        compression=compression)
            try:
                out = decoder.decompress(data, CHUNK)
            except DECODE_ERRORS as exc:
                raise _decode_failure(compression, exc)
            if out:
                yield out
        raw.unread(decoder.unused_data)
        if compression == 'xz':
            _skip_xz_padding(raw)
    if raw.peek(1):
        raise ImportFailure('trailing_garbage', compression=compression)


def _skip_xz_padding(raw):
    """Skip xz stream padding: null bytes, a multiple of four."""
    size = 0
    while raw.peek(1) == b'\0':
        chunk = raw.read(CHUNK)
        rest = chunk.lstrip(b'\0')
        size += len(chunk) - len(rest)
        raw.unread(rest)
    if size % 4:
        raise ImportFailure('compressed_corrupt', compression='xz',
                            detail='stream padding')


def _zstd_frames(raw, limits):
    """Decode zstd frames, one block (128 KiB at most) at a time.

    The frames are walked here, block header by block header, so that each
    decoder step gets one block and the end of each frame is known exactly.
    """
    decompressor = zstandard.ZstdDecompressor(
        max_window_size=limits.zstd_max_window)
    while True:
        head = raw.peek(4)
        if not head:
            return
        if head == ZSTD_MAGIC:
            frame = decompressor.decompressobj()
            for piece in _zstd_pieces(raw):
                try:
                    out = frame.decompress(piece)
                except zstandard.ZstdError as exc:
                    raise _decode_failure('zstd', exc)
                if out:
                    yield out
            if not frame.eof or frame.unused_data:
                raise ImportFailure('compressed_corrupt', compression='zstd',
                                    detail='frame end')
        elif head[1:] == ZSTD_SKIPPABLE and head[0] & 0xf0 == 0x50:
            size = int.from_bytes(_take(raw, 8)[4:], 'little')
            while size:
                size -= len(_take(raw, min(size, CHUNK)))
        else:
            raise ImportFailure('trailing_garbage', compression='zstd')


def _zstd_pieces(raw):
    """Split one zstd frame into its header, its blocks and its checksum."""
    header = _take(raw, 5)
    flags = header[4]
    single_segment = flags >> 5 & 1
    rest = ((1 - single_segment) + (0, 1, 2, 4)[flags & 3] +
            (single_segment, 2, 4, 8)[flags >> 6])
    yield header + _take(raw, rest)
    last = 0
    while not last:
        block = _take(raw, 3)
        value = int.from_bytes(block, 'little')
        last, kind, size = value & 1, value >> 1 & 3, value >> 3
        if kind == 3 or size > ZSTD_BLOCK_MAX:
            raise ImportFailure('compressed_corrupt', compression='zstd',
                                detail='block header')
        yield block + _take(raw, 1 if kind == 1 else size)
    if flags & 4:
        yield _take(raw, 4)


def _take(raw, n):
    data = raw.peek(n)
    if len(data) < n:
        raise ImportFailure('compressed_truncated', compression='zstd')
    return raw.read(n)


class _Feed:
    """The decompressed tar as tarfile reads it: counted, capped, and its
    last bytes kept to check what follows the end-of-archive marker."""

    def __init__(self, stream, budget, limit):
        self._stream = stream
        self._budget = budget
        self._limit = limit
        self.count = 0
        self.tail = bytearray()

    def read(self, n):
        data = self._stream.read(n)
        self.count += len(data)
        if self.count > self._budget:
            raise ImportFailure('unpacked_too_large', limit=self._limit)
        self.tail += data
        if len(self.tail) > 4 * CHUNK:
            del self.tail[:-2 * CHUNK]
        return data


# Extended headers (pax, GNU long names) are read whole into memory by
# tarfile: refuse larger ones, and long chains of them, before that.
MAX_EXTENDED_HEADER = 64 * 1024
MAX_EXTENDED_CHAIN = 8
_EXTENDED = {tarfile.XHDTYPE: 'pax', tarfile.XGLTYPE: 'pax',
             tarfile.SOLARIS_XHDTYPE: 'pax',
             tarfile.GNUTYPE_LONGNAME: 'long name',
             tarfile.GNUTYPE_LONGLINK: 'long link name'}


# A sparse member's map (GNU old-style extension blocks, PAX 0.0/0.1
# records, PAX 1.0 lines in its data): at most this many pieces.
MAX_SPARSE_PIECES = 65536


class _BoundedTarInfo(tarfile.TarInfo):
    """A member header whose extended headers are checked for size before
    tarfile reads them, and whose sparse map is read within bounds."""

    def _proc_member(self, tar):
        kind = _EXTENDED.get(self.type)
        if kind is None:
            tar.extended_chain = 0
            return super()._proc_member(tar)
        if self.size > MAX_EXTENDED_HEADER:
            raise ImportFailure('archive_header_too_large', kind=kind,
                                size=self.size, limit=MAX_EXTENDED_HEADER)
        tar.extended_chain = getattr(tar, 'extended_chain', 0) + 1
        if tar.extended_chain > MAX_EXTENDED_CHAIN:
            raise ImportFailure('archive_corrupt', detail='more than %d '
                                'extended headers for one member'
                                % MAX_EXTENDED_CHAIN)
        try:
            member = super()._proc_member(tar)
        except (ValueError, OverflowError, IndexError, KeyError) as exc:
            # tarfile's parsing of pax records (numbers, sparse maps)
            # raises these on malformed values.
            raise _corrupt(exc) from None
        if member.sparse is not None:
            _check_sparse(member.name, len(member.sparse))
        return member

    def _proc_sparse(self, tar):
        """An old-GNU sparse member: its map goes on in extension blocks
        of 21 pieces each, read here one by one within the bound."""
        pieces, extended, real_size = self._sparse_structs
        del self._sparse_structs
        blocks = 0
        while extended:
            blocks += 1
            if blocks > MAX_SPARSE_PIECES // 21 + 1:
                _check_sparse(self.name, MAX_SPARSE_PIECES + 1)
            block = tar.fileobj.read(tarfile.BLOCKSIZE)
            if len(block) < tarfile.BLOCKSIZE:
                raise ImportFailure('archive_corrupt',
                                    detail='truncated sparse map')
            for pos in range(0, 21 * 24, 24):
                try:
                    offset = tarfile.nti(block[pos:pos + 12])
                    length = tarfile.nti(block[pos + 12:pos + 24])
                except tarfile.InvalidHeaderError:
                    break
                if offset and length:
                    pieces.append((offset, length))
            _check_sparse(self.name, len(pieces))
            extended = bool(block[504])
        self.sparse = pieces
        self.offset_data = tar.fileobj.tell()
        tar.offset = self.offset_data + self._block(self.size)
        self.size = real_size
        return self

    def _proc_gnusparse_10(self, next, pax_headers, tar):
        """A PAX 1.0 sparse member: its map is lines of numbers at the
        start of its data, read here within the bound."""
        name = pax_headers.get('GNU.sparse.name', next.name)
        data = tar.fileobj.read(tarfile.BLOCKSIZE)
        count, _sep, data = data.partition(b'\n')
        if not count.isdigit() or int(count) > MAX_SPARSE_PIECES:
            _check_sparse(name, MAX_SPARSE_PIECES + 1)
        numbers = []
        while len(numbers) < 2 * int(count):
            if b'\n' not in data:
                if len(data) > 40:
                    raise ImportFailure('archive_corrupt',
                                        detail='sparse map')
                more = tar.fileobj.read(tarfile.BLOCKSIZE)
                if not more:
                    raise ImportFailure('archive_corrupt',
                                        detail='truncated sparse map')
                data += more
            number, _sep, data = data.partition(b'\n')
            if not number.isdigit():
                raise ImportFailure('archive_corrupt', detail='sparse map')
            numbers.append(int(number))
        next.offset_data = tar.fileobj.tell()
        next.sparse = list(zip(numbers[::2], numbers[1::2]))


def _check_sparse(name, pieces):
    """Refuse a sparse map of more than MAX_SPARSE_PIECES ``pieces``."""
    if pieces > MAX_SPARSE_PIECES:
        raise ImportFailure('archive_sparse_map', name=_display(name),
                            limit=MAX_SPARSE_PIECES)


def _corrupt(exc):
    return ImportFailure('archive_corrupt', detail=str(exc))


def _display(name):
    return name.encode('utf-8', 'surrogateescape').decode(
        'utf-8', 'replace')[:255]


def _check_member(info):
    if info.name.startswith('/'):
        reason = 'absolute'
    elif '..' in info.name.split('/'):
        reason = 'parent'
    elif info.issym():
        reason = 'symlink'
    elif info.islnk():
        reason = 'hardlink'
    elif info.ischr() or info.isblk():
        reason = 'device'
    elif info.isfifo():
        reason = 'fifo'
    elif not (info.isreg() or info.isdir()):
        reason = 'type'
    else:
        return
    raise ImportFailure('archive_unsafe_member', name=_display(info.name),
                        reason=reason)


def _is_metadata(name):
    return name.lower().endswith(METADATA_SUFFIXES)


class _Archive:
    """A tar read once, front to back, for the one disk image it holds."""

    def __init__(self, decoded, limits):
        self._limits = limits
        self._feed = _Feed(decoded, limits.max_output +
                           limits.max_descriptor + ARCHIVE_SLACK,
                           limits.max_output)
        try:
            self._tar = tarfile.open(fileobj=self._feed, mode='r|',
                                     bufsize=CHUNK,
                                     tarinfo=_BoundedTarInfo)
        except (tarfile.TarError, ValueError) as exc:
            raise _corrupt(exc)
        self._files = self._regular_files()
        self.kind = 'tar'
        self._href = None
        self._disk = self._find_disk()
        self.member = _display(self._href or self._disk.name)

    def _regular_files(self):
        """Each regular file member, once every member is checked."""
        count = 0
        while True:
            try:
                info = self._tar.next()
            except (tarfile.TarError, ValueError) as exc:
                raise _corrupt(exc)
            if info is None:
                return
            count += 1
            if count > self._limits.max_members:
                raise ImportFailure('archive_too_many_members',
                                    limit=self._limits.max_members)
            _check_member(info)
            if info.isreg():
                yield info

    def _is_disk(self, info):
        if self._href is not None:
            return posixpath.normpath(info.name) == self._href
        return not _is_metadata(info.name)

    def _find_disk(self):
        for index, info in enumerate(self._files):
            if info.name.lower().endswith('.ovf'):
                if index:
                    raise ImportFailure('ova_invalid',
                                        detail='descriptor not first')
                self._href = self._descriptor(info)
                self.kind = 'ova'
            elif self._is_disk(info):
                if info.size > self._limits.max_output:
                    raise ImportFailure('unpacked_too_large',
                                        limit=self._limits.max_output)
                return info
        raise ImportFailure('archive_no_disk')

    def _descriptor(self, info):
        """The normalised file name of the disk the OVF descriptor names."""
        if info.size > self._limits.max_descriptor:
            raise ImportFailure('ova_invalid', detail='descriptor too large')
        try:
            data = self._tar.extractfile(info).read()
        except tarfile.TarError as exc:
            raise _corrupt(exc)
        return posixpath.normpath(_ovf_disk_href(data))

    def chunks(self):
        """The disk's bytes, then the rest of the archive checked."""
        data = self._tar.extractfile(self._disk)
        while True:
            try:
                chunk = data.read(CHUNK)
            except tarfile.TarError as exc:
                raise _corrupt(exc)
            if not chunk:
                break
            yield chunk
        for info in self._files:
            if info.name.lower().endswith('.ovf'):
                raise ImportFailure('ova_invalid',
                                    detail='descriptor not first')
            if self._is_disk(info):
                raise ImportFailure('archive_several_disks', names='%s, %s' % (
                    self.member, _display(info.name)))
        self._check_end()

    def _check_end(self):
        """Only zeros may follow the end-of-archive marker."""
        after = self._feed.count - self._tar.offset
        if after > len(self._feed.tail):
            raise ImportFailure('archive_corrupt', detail='end of archive')
        rest = bytes(self._feed.tail[len(self._feed.tail) - after:])
        for chunk in itertools.chain([rest], _passthrough(self._feed)):
            if chunk.lstrip(b'\0'):
                raise ImportFailure('archive_corrupt',
                                    detail='data after the end of the archive')


def _ovf_disk_href(data):
    """The href of the file holding the first disk of an OVF descriptor."""
    try:
        root = defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
    except (defusedxml.ElementTree.ParseError,
            defusedxml.DefusedXmlException) as exc:
        raise ImportFailure('ova_invalid', detail=str(exc))
    namespace = root.tag[1:].partition('}')[0]
    if root.tag != '{%s}Envelope' % namespace or (
            namespace not in OVF_NAMESPACES):
        raise ImportFailure('ova_invalid', detail='not an OVF envelope')

    def tag(name):
        return '{%s}%s' % (namespace, name)

    def attribute(element, name):
        return element.get(tag(name), element.get(name))

    disk = root.find('.//%s/%s' % (tag('DiskSection'), tag('Disk')))
    if disk is None:
        raise ImportFailure('ova_invalid', detail='no disk')
    file_id = attribute(disk, 'fileRef')
    for item in root.iterfind('%s/%s' % (tag('References'), tag('File'))):
        if file_id is not None and attribute(item, 'id') == file_id:
            break
    else:
        raise ImportFailure('ova_invalid', detail='disk file not referenced')
    if attribute(item, 'compression') or attribute(item, 'chunkSize'):
        raise ImportFailure('ova_invalid',
                            detail='compressed or chunked disk file')
    href = attribute(item, 'href')
    if not href:
        raise ImportFailure('ova_invalid', detail='disk file without href')
    return href
