"""Where a qcow2's disk lies, read from the part of the file that arrived.

``qemu-img map`` needs the whole file, so a conversion to raw that asked
QEMU where the disk lies (``disk.extents``) waited for the end of the
download. qcow2 files are usually written in the order of their disk
(``qemu-img convert``, image builders), each L2 table before the clusters
it maps, so most of the disk can be placed long before the file is whole.
``Layout`` reads the header, the L1 table and the L2 tables from the
file's first bytes as they arrive and says which part of the disk is
known, and where in the file it lies.

It knows plain clusters only: data stored as it is, zero clusters and
unallocated ones. Anything else (compressed clusters, extended L2
entries, any incompatible feature, a backing file, encryption, reserved
bits set, a misaligned cluster) raises ``NotStreamable``, and QEMU reads
the image once it is whole. What ``Layout`` says is never trusted alone:
once the file is whole the pipeline compares it with ``qemu-img map``
before the image's last bytes go to Glance.
"""

import struct

MAGIC = b'QFI\xfb'
# Version 2 fields (72 bytes), then version 3's (to 104).
_V2 = struct.Struct('>4sIQIIQIIQQIIQ')
_V3 = struct.Struct('>QQQII')
V3_HEADER = _V2.size + _V3.size
OFFSET_MASK = 0x00fffffffffffe00
COPIED = 1 << 63
COMPRESSED = 1 << 62
ZERO = 1
L1_RESERVED = ~(OFFSET_MASK | COPIED) & (1 << 64) - 1
L2_RESERVED = ~(OFFSET_MASK | COPIED | COMPRESSED | ZERO) & (1 << 64) - 1
# Clusters of 4 KiB to 2 MiB (QEMU's own limits are 512 B to 2 MiB):
# smaller ones would make this a slow loop in Python.
MIN_CLUSTER_BITS = 12
MAX_CLUSTER_BITS = 21
# L1 tables larger than this (a disk of more than 64 TiB in 64 KiB
# clusters) are left to QEMU.
MAX_L1_BYTES = 1024 * 1024


class NotStreamable(Exception):
    """The image uses something ``Layout`` does not read: QEMU will."""


def merge(found, length, offset):
    """Append an extent, joined to the last one where they continue."""
    if found:
        last_length, last_offset = found[-1]
        if (offset is None and last_offset is None) or (
                offset is not None and last_offset is not None and
                last_offset + last_length == offset):
            found[-1] = (last_length + length, last_offset)
            return
    found.append((length, offset))


class Layout:
    """Reads a qcow2's mapping as the file grows.

    ``header(available, read)``: ``read(offset, size)`` returns bytes of
    the file, of which the first ``available`` have arrived. Returns the
    disk's size once the header has arrived (None before), so that a
    caller can refuse a disk too large before anything else is read.

    ``advance(available, read, limit)`` returns the disk's next extents,
    ``[(length, offset), ...]`` in order, that those bytes place, at most
    ``limit`` bytes of the disk (rounded up to a whole cluster; None: no
    bound): ``length`` bytes of the disk lie unchanged at ``offset`` in the
    file (within what arrived), or are zeros where ``offset`` is None.
    A run of zero or unallocated clusters costs one step, however long;
    each cluster of data costs one, so a call's work is bounded by
    ``limit``. ``position`` is how much of the disk is placed so far,
    ``size`` the disk's size.
    """

    def __init__(self):
        self.size = None
        self.position = 0
        self._l1 = None
        self._header = None
        # The last L2 table read: offset, entries, zero runs.
        self._l2 = (None, None, None)

    def header(self, available, read):
        """The disk's size, once the header has arrived; None before."""
        if self.size is None and available >= V3_HEADER:
            self._parse_header(read(0, V3_HEADER))
        return self.size

    def advance(self, available, read, limit=None):
        found = []
        if self.header(available, read) is None:
            return found
        if self._l1 is None and not self._read_l1(available, read):
            return found
        cluster = self._cluster
        stop = self.size
        if limit is not None:
            # Whole clusters, so that every step starts on one.
            stop = min(stop, self.position + max(
                -(-limit // cluster) * cluster, cluster))
        while self.position < stop:
            index = self.position >> self._bits
            l1_index, l2_index = divmod(index, self._entries)
            table_end = (l1_index + 1) * self._entries * cluster
            l2_offset = self._l1[l1_index]
            if not l2_offset:
                # No L2 table: its clusters are unallocated, all zeros.
                self._zeros(found, min(table_end, stop))
                continue
            table = self._table(l2_offset, available, read)
            if table is None:
                break
            entries, zero_until = table
            entry = entries[l2_index]
            run_end = zero_until[l2_index]
            if run_end > l2_index:
                # Zero or unallocated clusters up to entry ``run_end``.
                self._zeros(found, min(
                    table_end - (self._entries - run_end) * cluster, stop))
                continue
            if entry & COMPRESSED:
                raise NotStreamable('compressed cluster at disk offset %d'
                                    % self.position)
            if entry & self._reserved:
                raise NotStreamable('reserved bits in the L2 entry of '
                                    'disk offset %d' % self.position)
            length = min(cluster, self.size - self.position)
            host = entry & OFFSET_MASK
            if host % cluster:
                raise NotStreamable('misaligned cluster at %d' % host)
            if host + length > available:
                break
            merge(found, length, host)
            self.position += length
        return found

    def _zeros(self, found, end):
        end = min(end, self.size)
        merge(found, end - self.position, None)
        self.position = end

    def _parse_header(self, header):
        (magic, version, backing_offset, _backing_size, bits, size,
         crypt_method, l1_size, l1_offset, _refcount_offset,
         _refcount_clusters, _snapshots, _snapshots_offset) = \
            _V2.unpack_from(header)
        if magic != MAGIC or version not in (2, 3):
            raise NotStreamable('not a qcow2 of version 2 or 3')
        if backing_offset or crypt_method:
            raise NotStreamable('backing file or encryption')
        if not MIN_CLUSTER_BITS <= bits <= MAX_CLUSTER_BITS:
            raise NotStreamable('cluster size 2^%d' % bits)
        if version == 3:
            incompatible, _compatible, _autoclear, _order, length = \
                _V3.unpack_from(header, _V2.size)
            if incompatible or length < V3_HEADER:
                raise NotStreamable('incompatible features %#x' %
                                    incompatible)
        cluster = 1 << bits
        entries = cluster // 8
        needed = -(-size // (cluster * entries))
        if (not size or l1_size < needed or l1_size * 8 > MAX_L1_BYTES or
                l1_offset % cluster):
            raise NotStreamable('L1 table of %d entries at %d' %
                                (l1_size, l1_offset))
        self._bits, self._cluster, self._entries = bits, cluster, entries
        # Version 2 has no zero flag: its bit 0 is reserved.
        self._reserved = L2_RESERVED | (ZERO if version == 2 else 0)
        self._header = (l1_offset, needed)
        self.size = size

    def _read_l1(self, available, read):
        """Read the L1 table once it has arrived."""
        l1_offset, needed = self._header
        if l1_offset + needed * 8 > available:
            return False
        l1 = []
        for entry in struct.unpack('>%dQ' % needed,
                                   read(l1_offset, needed * 8)):
            if entry & L1_RESERVED or (entry & OFFSET_MASK) % self._cluster:
                raise NotStreamable('L1 entry %#x' % entry)
            l1.append(entry & OFFSET_MASK)
        self._l1 = l1
        return True

    def _table(self, offset, available, read):
        """The L2 table at ``offset``: its entries, and for each entry the
        index past the run of zero or unallocated entries it starts (its
        own index if it is not one); None while it has not all arrived."""
        if self._l2[0] == offset:
            return self._l2[1:]
        if offset + self._cluster > available:
            return None
        data = read(offset, self._cluster)
        entries = struct.unpack('>%dQ' % self._entries, data)
        if data.count(0) == len(data):
            zero_until = _AllZero(self._entries)
        else:
            zero_until = [0] * self._entries
            until = self._entries
            invalid = COMPRESSED | self._reserved
            for index in range(self._entries - 1, -1, -1):
                entry = entries[index]
                if entry & invalid or not (
                        entry & ZERO or not entry & OFFSET_MASK):
                    until = index
                zero_until[index] = until
        self._l2 = (offset, entries, zero_until)
        return entries, zero_until


class _AllZero:
    """The zero runs of an L2 table of unallocated entries only: every
    entry's run reaches the table's end."""

    def __init__(self, entries):
        self._entries = entries

    def __getitem__(self, index):
        return self._entries
