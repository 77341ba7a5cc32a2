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

    ``advance(available, read)``: ``read(offset, size)`` returns bytes of
    the file, of which the first ``available`` have arrived. Returns the
    disk's next extents, ``[(length, offset), ...]`` in order, that those
    bytes place: ``length`` bytes of the disk lie unchanged at ``offset``
    in the file (within what arrived), or are zeros where ``offset`` is
    None. ``position`` is how much of the disk is placed so far, ``size``
    the disk's size (once the header has arrived).
    """

    def __init__(self):
        self.size = None
        self.position = 0
        self._l1 = None
        self._l2 = (None, None)     # the last L2 table read: offset, entries

    def advance(self, available, read):
        found = []
        if self._l1 is None and not self._start(available, read):
            return found
        cluster = self._cluster
        while self.position < self.size:
            index = self.position >> self._bits
            l1_index, l2_index = divmod(index, self._entries)
            l2_offset = self._l1[l1_index]
            if not l2_offset:
                # No L2 table: its clusters are unallocated, all zeros.
                end = min((l1_index + 1) * self._entries * cluster,
                          self.size)
                merge(found, end - self.position, None)
                self.position = end
                continue
            entries = self._table(l2_offset, available, read)
            if entries is None:
                break
            entry = entries[l2_index]
            if entry & COMPRESSED:
                raise NotStreamable('compressed cluster at disk offset %d'
                                    % self.position)
            if entry & self._reserved:
                raise NotStreamable('reserved bits in the L2 entry of '
                                    'disk offset %d' % self.position)
            length = min(cluster, self.size - self.position)
            host = entry & OFFSET_MASK
            if entry & ZERO or not host:
                merge(found, length, None)
            elif host % cluster:
                raise NotStreamable('misaligned cluster at %d' % host)
            elif host + length > available:
                break
            else:
                merge(found, length, host)
            self.position += length
        return found

    def _start(self, available, read):
        """Read the header and the L1 table once they have arrived."""
        if available < V3_HEADER:
            return False
        header = read(0, V3_HEADER)
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
        if l1_offset + needed * 8 > available:
            return False
        self._bits, self._cluster, self._entries = bits, cluster, entries
        # Version 2 has no zero flag: its bit 0 is reserved.
        self._reserved = L2_RESERVED | (ZERO if version == 2 else 0)
        self._l1 = []
        for entry in struct.unpack('>%dQ' % needed,
                                   read(l1_offset, needed * 8)):
            if entry & L1_RESERVED or (entry & OFFSET_MASK) % cluster:
                raise NotStreamable('L1 entry %#x' % entry)
            self._l1.append(entry & OFFSET_MASK)
        self.size = size
        return True

    def _table(self, offset, available, read):
        """The entries of the L2 table at ``offset``, or None while it
        has not all arrived."""
        if self._l2[0] == offset:
            return self._l2[1]
        if offset + self._cluster > available:
            return None
        entries = struct.unpack('>%dQ' % self._entries,
                                read(offset, self._cluster))
        self._l2 = (offset, entries)
        return entries
