"""What a file's first bytes say of it, before it is downloaded.

Check URL and the Import form read the start of a file (``fetch.probe``)
and show its format, virtual size, compression and archive member, and
what an import of it would refuse. The same content checks run in the
worker on every download: a web page or a small text file is no disk
image, whatever its URL or name says.
"""

import dataclasses
import re

from oslo_utils.imageutils import format_inspector

from image_importer.engine import disk
from image_importer.engine.errors import ImportFailure
from image_importer.engine import unpack

# Decoded bytes looked at, at most (a compressed start may expand).
DECODED_BYTES = 16 * 1024 * 1024
# A disk image is never this small and all text; error pages are.
SMALL = 1024 * 1024
# The bytes the content checks look at.
CHECKED = 4096
WEB_TYPES = ('text/html', 'application/xhtml+xml')
_HTML = re.compile(
    rb'(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*'
    rb'<(?:!doctype\s+html|html|head|body|meta|title)\b', re.I | re.S)
_TEXT = re.compile(rb'[\t\n\r\x20-\x7e]*')


@dataclasses.dataclass(frozen=True)
class Preview:
    """What the start of a file says of it."""

    format: str | None         # Glance disk_format; None: not known yet
    virtual_size: int | None   # bytes the guest sees, when known
    compression: str | None
    archive: str | None        # 'tar' or 'ova'
    member: str | None         # the archive member that is the disk
    refusal: ImportFailure | None = None   # what an import would refuse


def refuse_non_image(head, size=None, content_type=''):
    """Refuse (``ImportFailure``) content that is no disk image: a web
    page (by its first bytes, or by ``content_type``), or text when the
    whole file (``size`` bytes) is smaller than any disk."""
    if _HTML.match(head[:CHECKED]) or (
            content_type.split(';')[0].strip().lower() in WEB_TYPES):
        raise ImportFailure('web_page')
    if size is not None and size < SMALL and (
            _TEXT.fullmatch(head[:CHECKED])):
        raise ImportFailure('not_a_disk_image', size=size)


class _Bytes:
    def __init__(self, data):
        self._data = memoryview(data)
        self._pos = 0

    def read(self, n):
        data = bytes(self._data[self._pos:self._pos + n])
        self._pos += len(data)
        return data


def _decoded(probe, limits):
    """``(stream, bytes, whole)``: the disk image's first bytes decoded
    from ``probe.head``; ``whole`` when they are all of it. A start cut
    short mid-stream decodes as far as it goes."""
    stream = unpack.open_stream(_Bytes(probe.head), limits)
    parts, got = [], 0
    try:
        while got < DECODED_BYTES:
            data = stream.read(unpack.CHUNK)
            if not data:
                return stream, b''.join(parts), probe.complete
            parts.append(data)
            got += len(data)
    except ImportFailure:
        if probe.complete:
            raise
    return stream, b''.join(parts), False


def describe(probe, max_virtual_size=None, max_bytes=None):
    """The ``Preview`` of the file ``probe`` (``fetch.Probe``) read the
    start of. A refusal already certain is in ``refusal``; the download
    still checks everything again."""
    limits = unpack.Limits(max_output=max_bytes or 1 << 62)
    try:
        stream, head, whole = _decoded(probe, limits)
    except ImportFailure as exc:
        if not probe.complete:
            return Preview(None, None, None, None, None)
        return Preview(None, None, None, None, None, refusal=exc)
    found = dict(compression=stream.compression, archive=stream.archive,
                 member=stream.member)
    wrapper = format_inspector.InspectWrapper(_Bytes(head))
    while wrapper.read(unpack.CHUNK):
        pass
    if whole:
        wrapper.close()
    formats = _formats(wrapper)
    if not whole:
        wrapper.close()
    plain = stream.compression is None and stream.archive is None
    if formats is None:
        return Preview(None, None, refusal=_non_image(head, probe, plain),
                       **found)
    names = {str(inspector) for inspector in formats}
    name = names.pop() if len(names) == 1 else None
    disk_format = disk.READABLE.get(name, (None,))[0]
    if disk_format == 'raw':
        refusal = _non_image(head, probe, plain)
        virtual_size = probe.size if plain else None
        if refusal is None:
            refusal = _checked(disk.check_virtual_size, virtual_size,
                               max_virtual_size)
        return Preview('raw', virtual_size, refusal=refusal, **found)
    try:
        info = disk.inspect(None, formats, max_virtual_size, qemu=False)
    except ImportFailure as exc:
        return Preview(disk_format, None, refusal=exc, **found)
    return Preview(info.format, info.virtual_size, **found)


def _formats(wrapper):
    """The formats the start matched: ``wrapper.formats`` once every
    inspector has decided, else those matched that have read all they
    need, if no other matches so far (a VHDX inspector, for one, wants a
    megabyte before it decides that a qcow2 is no VHDX)."""
    formats = wrapper.formats
    if formats is not None:
        return formats
    matched, undecided = [], False
    for inspector in wrapper._inspectors:
        if inspector.NAME == 'raw':
            continue
        try:
            match = inspector.format_match
        except Exception:   # an inspector that has not read enough
            match = False
        if match and inspector.complete:
            matched.append(inspector)
        elif match:
            undecided = True
    return matched or None if not undecided else None


def _non_image(head, probe, plain):
    size = probe.size if plain and probe.complete else None
    return _checked(refuse_non_image, head, size,
                    probe.content_type if plain else '')


def _checked(check, *args):
    """The ``ImportFailure`` that ``check(*args)`` raises, or None."""
    try:
        check(*args)
    except ImportFailure as exc:
        return exc
    return None
