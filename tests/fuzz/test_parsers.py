"""Property-based fuzzing of every parser the worker runs on untrusted
bytes (Hypothesis): the qcow2 table reader, tar/OVA/OVF handling and the
decompression bounds, the checksum-file parser, the file-name
suggestions, URL and header parsing.

Properties: only the documented exceptions (``ImportFailure``, and
``NotStreamable`` from the qcow2 reader), never more than a fixed memory
and time per input (Hypothesis's deadline per example; tracemalloc), never
a crash. ``./tools/test`` runs a short campaign (profile ``ci``); a longer
one: ``HII_FUZZ=long ./tools/test tests/fuzz``. Inputs that once found a
bug stay as ``@example`` cases.
"""

import gzip
import io
import struct
import tarfile
import tracemalloc

from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

from image_importer.engine import checksum
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import qcow2
from image_importer.engine import suggest
from image_importer.engine import unpack

MIB = 1024 * 1024
LIMITS = unpack.Limits(max_output=4 * MIB, max_descriptor=64 * 1024)


# -- the qcow2 table reader ---------------------------------------------------

@st.composite
def qcow2_files(draw):
    """A qcow2-like file: a header with drawn fields (mostly plausible),
    an L1 table and L2 tables of drawn entries, in 4 KiB clusters."""
    bits = draw(st.sampled_from([12, 12, 12, 9, 16, 21, 30]))
    cluster = 1 << min(bits, 16)
    clusters = draw(st.integers(3, 12))
    size = draw(st.one_of(st.integers(1, clusters * cluster * 64),
                          st.integers(1, 1 << 62)))
    l1_size = draw(st.integers(0, 512))
    version = draw(st.sampled_from([3, 3, 2, 1]))
    header = qcow2._V2.pack(
        draw(st.sampled_from([qcow2.MAGIC, qcow2.MAGIC, b'QFI\xfa'])),
        version, draw(st.sampled_from([0, 0, 0, 4096])), 0, bits, size,
        draw(st.sampled_from([0, 0, 0, 1])), l1_size,
        draw(st.sampled_from([cluster, cluster, 0, cluster + 8])),
        0, 0, 0, 0)
    header += qcow2._V3.pack(draw(st.sampled_from([0, 0, 0, 1])), 0, 0, 4,
                             draw(st.sampled_from([qcow2.V3_HEADER, 40])))
    data = bytearray(header.ljust(cluster, b'\0'))
    entry = st.one_of(
        st.just(0),
        st.integers(2, clusters - 1).map(lambda c: c * cluster),
        st.integers(2, clusters - 1).map(
            lambda c: c * cluster | qcow2.COPIED),
        st.sampled_from([qcow2.ZERO, qcow2.COMPRESSED | 4096, 1 << 56, 7]),
        st.integers(0, (1 << 64) - 1))
    l1 = draw(st.lists(entry, min_size=0, max_size=min(l1_size, 64)))
    data += struct.pack('>%dQ' % len(l1), *l1)
    while len(data) < clusters * cluster:
        table = draw(st.lists(entry, max_size=cluster // 8))
        data += struct.pack('>%dQ' % len(table), *table).ljust(
            cluster, b'\0')
    return bytes(data[:clusters * cluster])


@given(qcow2_files(), st.integers(1, 16), st.integers(4096, 4 * MIB))
@example(b'QFI\xfb' + bytes(200), 1, 4096)
def test_the_qcow2_reader_places_only_what_arrived_or_refuses(
        content, steps, limit):
    layout = qcow2.Layout()

    def read(offset, size):
        assert 0 <= offset and offset + size <= len(content)
        return content[offset:offset + size]

    placed = 0
    try:
        for step in range(1, steps + 1):
            available = len(content) * step // steps
            size = layout.header(available, read)
            found = layout.advance(available, read, limit)
            got = sum(length for length, _offset in found)
            # A step places at most its limit (whole clusters).
            assert got <= max(limit, 1 << 21) + (1 << 21)
            for length, offset in found:
                assert length > 0
                if offset is not None:
                    assert offset + length <= available
            placed += got
            assert placed == layout.position
            if size is not None:
                assert layout.position <= size
    except qcow2.NotStreamable:
        pass


# -- compressed files and archives --------------------------------------------

class Reader:
    def __init__(self, data, most=4096):
        self._data = io.BytesIO(data)
        self._most = most

    def read(self, n):
        return self._data.read(min(n, self._most))


def unpack_all(data):
    """Unpack ``data`` as the worker does, within LIMITS; the memory it
    took (tracemalloc's peak)."""
    tracemalloc.start()
    try:
        try:
            stream = unpack.open_stream(Reader(data), LIMITS)
            while stream.read(256 * 1024):
                pass
        except ImportFailure:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@st.composite
def tar_members(draw):
    info = tarfile.TarInfo(draw(st.sampled_from(
        ['disk.raw', 'disk.qcow2', 'a.ovf', 'notes.txt', '../x', '/abs',
         'd/' * 60 + 'long.raw', 'x.vmdk'])))
    info.type = draw(st.sampled_from([
        tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
        tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE,
        tarfile.GNUTYPE_SPARSE, b'Z']))
    body = draw(st.binary(max_size=2048))
    info.size = len(body) if info.type == tarfile.REGTYPE else 0
    info.pax_headers = draw(st.dictionaries(
        st.sampled_from(['comment', 'path', 'size', 'GNU.sparse.major',
                         'GNU.sparse.minor', 'GNU.sparse.map',
                         'GNU.sparse.size', 'linkpath']),
        st.text(max_size=40), max_size=3))
    fmt = draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT,
                                tarfile.USTAR_FORMAT]))
    try:
        header = info.tobuf(fmt, 'utf-8', 'surrogateescape')
    except ValueError:
        header = tarfile.TarInfo('disk.raw').tobuf()
        body = b''
    padding = -len(body) % 512
    return header + body + bytes(padding)


@st.composite
def archives(draw):
    data = b''.join(draw(st.lists(tar_members(), min_size=1, max_size=5)))
    data += bytes(draw(st.sampled_from([0, 512, 1024])))
    # Flip a few bytes: headers that almost parse.
    data = bytearray(data)
    for index, value in draw(st.lists(st.tuples(
            st.integers(0, max(len(data) - 1, 0)), st.integers(0, 255)),
            max_size=4)):
        if data:
            data[index] = value
    data = bytes(data)
    wrap = draw(st.sampled_from(['none', 'gzip']))
    return gzip.compress(data) if wrap == 'gzip' else data


@given(archives())
def test_archives_fail_only_as_documented_in_bounded_memory(data):
    assert unpack_all(data) < 16 * MIB


@given(st.binary(max_size=8192))
@example(b'\x1f\x8b' + bytes(20))
@example(b'\xfd7zXZ\x00' + bytes(20))
@example(b'BZh9' + bytes(20))
@example(b'\x28\xb5\x2f\xfd' + bytes(20))
def test_any_bytes_fail_only_as_documented_in_bounded_memory(data):
    assert unpack_all(data) < 16 * MIB


@given(st.binary(max_size=4096))
def test_ovf_descriptors_fail_only_as_documented(data):
    try:
        href = unpack._ovf_disk_href(data)
    except ImportFailure:
        return
    assert isinstance(href, str) and href


# -- checksum files, file names, URLs -----------------------------------------

HEX = st.text('0123456789abcdefABCDEF', min_size=0, max_size=130)


@st.composite
def checksum_lines(draw):
    name = draw(st.text(max_size=30))
    digest = draw(HEX)
    return draw(st.sampled_from([
        '%s  %s' % (digest, name), '%s *%s' % (digest, name),
        'SHA256 (%s) = %s' % (name, digest), digest,
        '-----BEGIN PGP SIGNATURE-----', '-----END PGP SIGNATURE-----',
        draw(st.text(max_size=80))]))


@given(st.lists(checksum_lines(), max_size=30).map('\n'.join),
       st.text(max_size=40))
def test_checksum_files_fail_only_as_documented(text, filename):
    try:
        found = checksum.parse_checksum_file(text, filename)
    except ImportFailure:
        return
    assert found.algorithm in checksum.ALGORITHMS


@given(st.text(max_size=200))
def test_typed_checksums_fail_only_as_documented(text):
    try:
        checksum.parse_expected(text)
    except ImportFailure:
        pass


@given(st.text(max_size=300), st.one_of(st.none(), st.integers(0, 1 << 62)))
@example('ubuntu' + '-24.04' * 50, None)
@example('x86_64-' * 40 + 'debian-' * 40, 1 << 40)
def test_file_name_suggestions_never_fail(name, size):
    found = suggest.suggest(name, size)
    assert set(found) <= {'architecture', 'os_distro', 'os_version',
                          'min_disk'}


@given(st.text(max_size=200))
@example('https://user:pw@images.example.org:99999/x.img')
@example('http://[::1/x.img')
def test_urls_fail_only_as_documented(text):
    policy = fetch.UrlPolicy()
    try:
        url, _credentials = fetch.split_credentials(text)
        policy.target(url)
    except ImportFailure:
        pass


@given(st.text(max_size=200))
def test_content_disposition_names_have_no_path(value):
    name = fetch._disposition_name(value)
    assert '/' not in name
