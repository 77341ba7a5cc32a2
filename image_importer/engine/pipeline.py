"""The import pipeline: fetch, verify, unpack, inspect, convert, upload.

Plain Python: no Django, no Celery. The caller passes a ``reporter`` with
four methods, which is how progress, the Glance image id, the route and
cancellation (``reporter`` raising ``Cancelled``) cross the boundary:

- ``phase(name)``: a phase begins: ``downloading``, ``converting`` or
  ``uploading``;
- ``progress(done, total)``: bytes done in the phase (``total`` may be None);
- ``image_created(image_id)``: the Glance image record exists;
- ``route(name, source_format)``: the route the image takes to Glance
  was chosen (a ``Route``'s name) from the format found in the file,
  again if one falls through to the next.

The download is one streaming pass: the raw bytes are hashed for the
checksum, decompressed and taken out of an archive as they arrive, and the
resulting disk image is format-inspected on its way to the work file, or,
when it goes to Glance as it is, straight into the upload (engine.overlap)
without touching the disk. A qcow2 to be made raw feeds the upload its
disk from the work file as the file arrives (engine.qcow2 places it),
checked against ``qemu-img map`` once the file is whole. Nothing reaches
Glance whole before the checksum and the safety checks pass.
"""

import contextlib
import dataclasses
import datetime
import enum
import errno
import json
import logging
import os
import shutil
import time

from oslo_utils.imageutils import format_inspector

from image_importer.engine import checksum
from image_importer.engine import disk
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import glance
from image_importer.engine import overlap
from image_importer.engine import preview
from image_importer.engine import provenance
from image_importer.engine import qcow2
from image_importer.engine import suggest
from image_importer.engine import unpack

LOG = logging.getLogger(__name__)
CHUNK_SIZE = 1024 * 1024
ZERO_CHUNK = bytes(CHUNK_SIZE)
# Always computed, whatever the user gave, so the job can show it.
DISPLAY_ALGORITHM = 'sha256'


@dataclasses.dataclass
class ImportRequest:
    url: str
    fetcher: fetch.Fetcher
    glance_client: object
    # Glance fields for the final disk format: ``image_meta('qcow2')``.
    image_meta: object
    # The disk format wanted in Glance; None keeps the detected one.
    disk_format: str | None = None
    credentials: str | None = None
    max_bytes: int | None = None
    max_virtual_size: int | None = None
    # Free space the work directory keeps for others.
    reserve: int = 0
    expected_checksum: str | None = None
    checksum_url: str | None = None
    resilience: fetch.Resilience = fetch.Resilience()
    # The Glance image an earlier run of the same job created, if any.
    image_id: str | None = None
    upload_retries: int = 0
    upload_retry_delay: float = 2.0
    # Start the upload while the download goes on (see choose_route) ...
    overlap: bool = False
    # ... also for an image checked against a checksum: its last bytes
    # wait for the check, but a mismatch is found after the image was
    # created (and is deleted). Off, such an image reaches Glance only
    # once its checksum matched.
    overlap_verified: bool = False
    # Look for published checksums, and whose signatures to trust.
    checksum_policy: provenance.Policy = provenance.Policy()
    # Set by ``run``: what the image is checked against, and when.
    origin: provenance.Provenance = provenance.Provenance()
    fetched_at: str = ''


def image_fields(request, target, source_format, compression=None,
                 member=None):
    """The Glance fields of the image in ``target`` format: the request's,
    and where the image came from (``provenance.properties``)."""
    fields = dict(request.image_meta(target))
    fields.update(provenance.properties(
        request.origin, request.url, request.fetched_at, source_format,
        target, compression, member))
    return fields


@dataclasses.dataclass
class ImportResult:
    image_id: str
    source_format: str
    disk_format: str
    size: int
    virtual_size: int
    compression: str | None = None
    archive_member: str | None = None
    checksums: dict = dataclasses.field(default_factory=dict)
    verified: str | None = None     # the algorithm checked, if any
    suggestions: dict = dataclasses.field(default_factory=dict)
    # Bytes of the download an earlier run had already received.
    resumed_at: int = 0
    origin: provenance.Provenance = provenance.Provenance()


@dataclasses.dataclass
class Downloaded:
    """What the download stage made: the work file and what was learnt of
    the image on the way (formats, compression, archive member, hashes).
    """

    path: str
    size: int
    inspectors: list
    compression: str | None
    member: str | None
    checksums: dict
    resumed_at: int = 0
    # Fed to the upload as it arrived: the work file holds only its start.
    streamed: bool = False


def _free(workdir, reserve):
    return shutil.disk_usage(workdir).free - reserve


def space_limit(workdir, max_bytes, reserve):
    """Bytes a job may write: the configured cap or the free space."""
    free = _free(workdir, reserve)
    if free <= 0:
        raise ImportFailure('disk_full', needed=1, free=max(free, 0))
    return free if max_bytes is None else min(max_bytes, free)


def check_output(request, size, disk_format, source_format):
    """Refuse, before its first byte goes to Glance, an image of ``size``
    bytes in ``disk_format`` made from a ``source_format`` file, that the
    operator's size limit or the project's Glance quota would refuse: a
    small qcow2 of a large empty disk is its whole virtual size once raw.
    """
    if request.max_bytes is not None and size > request.max_bytes:
        raise ImportFailure('output_too_large', size=size,
                            limit=request.max_bytes, format=disk_format,
                            source=source_format)
    glance.check_quota(request.glance_client, size=size,
                       new_image=not request.image_id)


class Route(enum.Enum):
    """The ways an image goes from the download to Glance."""

    # The download itself, fed to the upload as it arrives.
    AS_DOWNLOADED = 'sent as downloaded'
    # A qcow2's disk, made raw from the part of the file that has arrived
    # (engine.qcow2) and fed to the upload meanwhile.
    RAW_AS_IT_ARRIVES = 'made raw as it arrived'
    # Once downloaded: made raw by QEMU straight into the upload.
    CONVERTED_INTO_UPLOAD = 'converted into the upload'
    # Once downloaded: converted by qemu-img to a file, which is sent.
    CONVERTED_TO_FILE = 'converted to a file, then sent'
    # Once downloaded: the work file, sent as it is.
    FILE = 'sent from the work file'


def choose_route(found, wanted, name, arriving, streaming, can_stream_raw):
    """The one decision of how an image of format ``found`` becomes one of
    format ``wanted`` in Glance, or why it cannot (``ImportFailure``, as
    soon as the format is known).

    ``arriving``: the download still goes on (the routes that feed the
    upload as it arrives are open); ``streaming``: the upload may start
    before every check has passed (``OVERLAP_UPLOAD``, with a Glance to
    send to); ``can_stream_raw``: this host has QEMU's streaming tools. A
    route that turns out impossible later has its next one chosen here
    too, with ``arriving`` off.
    """
    if wanted == 'iso' and found != 'iso':
        raise ImportFailure('not_an_iso', format=found, name=name)
    if found == 'iso' and wanted != 'iso':
        raise ImportFailure('cannot_convert', source=found, target=wanted)
    if found == wanted:
        return Route.AS_DOWNLOADED if arriving and streaming else Route.FILE
    if streaming and wanted == 'raw':
        if arriving and found == 'qcow2':
            return Route.RAW_AS_IT_ARRIVES
        if can_stream_raw:
            return Route.CONVERTED_INTO_UPLOAD
    return Route.CONVERTED_TO_FILE


def require_space(workdir, needed, reserve):
    free = _free(workdir, reserve)
    if free < needed:
        raise ImportFailure('disk_full', needed=needed, free=max(free, 0))


def establish(request):
    """What the image is checked against, and who vouches for it
    (``provenance.Provenance``), before the download."""
    return provenance.establish(
        request.fetcher, request.url, request.credentials,
        expected_checksum=request.expected_checksum,
        checksum_url=request.checksum_url, policy=request.checksum_policy)


class _HashingReader:
    """Hashes and reports the raw download as it is read."""

    def __init__(self, download, hasher, progress):
        self._download = download
        self._hasher = hasher
        self._progress = progress

    def read(self, size=CHUNK_SIZE):
        data = self._download.read(size)
        self._hasher.update(data)
        self._progress(self._download.done, self._download.total)
        return data


def _write_error(exc):
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ImportFailure('disk_full', needed=0, free=0)
    return exc


def receive(request, workdir, reporter, algorithms, sender=None):
    """Download, hash, unpack and inspect into ``workdir/source``.

    ``sender``, if given, is told of each write
    (``written(wrapper, out, size)``); once it ``takes_download``, the
    bytes are fed to its upload instead of the file.
    """
    limit = space_limit(workdir, request.max_bytes, request.reserve)
    if (sender is not None and sender.streaming and
            request.max_bytes is not None):
        # Fed to the upload, the image needs no disk: only the operator's
        # limit applies, and the free space to what is written.
        return _receive(request, workdir, reporter, algorithms,
                        request.max_bytes, sender, disk_limit=limit)
    try:
        return _receive(request, workdir, reporter, algorithms, limit,
                        sender)
    except ImportFailure as exc:
        # Past the free space rather than the operator's size limit.
        if (exc.code in ('too_large', 'unpacked_too_large') and
                (request.max_bytes is None or limit < request.max_bytes)):
            raise ImportFailure('disk_full', needed=exc.params.get(
                'size', limit + 1), free=limit) from exc
        raise


SOURCE_FILE = 'source'
RESUME_FILE = 'source.resume'


class _ResumedDownload:
    """The first ``size`` bytes of a file an earlier run wrote, then the
    download that continues it."""

    def __init__(self, path, size, download):
        self._file = open(path, 'rb')
        self._left = size
        self._download = download

    def read(self, size=CHUNK_SIZE):
        if self._left:
            data = self._file.read(min(size, self._left))
            self._left -= len(data)
            if data:
                return data
            self._left = 0
        return self._download.read(size)

    @property
    def done(self):
        return self._download.done

    @property
    def total(self):
        return self._download.total

    def close(self):
        self._file.close()


def _resume_point(workdir, path, url):
    """(bytes, validator) that an earlier run of the job left in
    ``path``, or (0, None)."""
    try:
        with open(os.path.join(workdir, RESUME_FILE)) as state_file:
            state = json.load(state_file)
        size = os.path.getsize(path)
    except (OSError, ValueError):
        return 0, None
    if state.get('url') != url or not state.get('validator') or not size:
        return 0, None
    # From the last byte held, so a file that was complete still gets a
    # partial answer (not 416) that proves it unchanged.
    return size - 1, state['validator']


def _remember(workdir, url, download, stream):
    """Let a later run continue this download where it stops: only when
    the work file is the download itself (not unpacked) and the server
    can resume it."""
    if (stream.compression or stream.member or not download.ranges or
            not download.validator):
        _forget(workdir)
        return
    with open(os.path.join(workdir, RESUME_FILE), 'w') as state_file:
        json.dump({'url': url, 'validator': download.validator}, state_file)


def _forget(workdir):
    """No later run continues the download from the work file."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(workdir, RESUME_FILE))


def _write_sparse(out, data, end):
    """Write ``data`` at the file's position, leaving a hole where it is
    all zeros (disk images are often half empty: no page cache, no disk
    and nothing to read back for those bytes). Returns the file's size."""
    zeros = ZERO_CHUNK if len(data) == CHUNK_SIZE else bytes(len(data))
    if data != zeros:
        out.write(data)
        return max(end, out.tell())
    out.seek(len(data), os.SEEK_CUR)
    if out.tell() > end:
        # The file reaches the hole's end, so a reader sees the zeros.
        out.truncate()
        end = out.tell()
    return end


def _receive(request, workdir, reporter, algorithms, limit, sender,
             disk_limit=None):
    path = os.path.join(workdir, SOURCE_FILE)
    start, validator = _resume_point(workdir, path, request.url)
    download = fetch.Download(request.fetcher, request.url,
                              credentials=request.credentials,
                              max_bytes=limit,
                              resilience=request.resilience,
                              start=start, validator=validator)
    try:
        # Before any byte is read: refuse now what Glance's quotas would
        # refuse at upload. The download's length is a lower bound of the
        # image only when it is kept or made raw.
        glance.check_quota(
            request.glance_client,
            size=download.total if request.disk_format in (
                None, 'raw') else None,
            new_image=not request.image_id)
    except BaseException:
        download.close()
        raise
    # The bytes already on disk are read again for the hashes and the
    # format inspection, and not written again.
    kept = download.start
    source = download
    if kept:
        source = _ResumedDownload(path, kept, download)
    try:
        hasher = checksum.Hasher(algorithms)
        stream = unpack.open_stream(
            _HashingReader(source, hasher, reporter.progress),
            unpack.Limits(max_output=limit))
        _remember(workdir, request.url, download, stream)
        if sender is not None:
            sender.reads(stream)
        wrapper = format_inspector.InspectWrapper(stream)
        size = _write_image(wrapper, path, kept, sender, disk_limit)
        wrapper.close()
        return Downloaded(path=path, size=size, inspectors=wrapper.formats,
                          compression=stream.compression,
                          member=stream.member,
                          checksums=hasher.hexdigests(), resumed_at=kept,
                          streamed=sender is not None and
                          sender.takes_download)
    finally:
        download.close()
        if kept:
            source.close()
        if sender is not None and sender.takes_download:
            # Past its first bytes the download went to Glance, not to
            # the work file: nothing worth continuing.
            _forget(workdir)


def _write_image(wrapper, path, kept, sender, disk_limit):
    """Write the image ``wrapper`` reads to ``path`` past its first
    ``kept`` bytes (an earlier run wrote those), zeros as holes, or to the
    sender's upload once it takes the download; returns its size. Content
    that is no disk image (a web page, a small text) is refused from its
    first bytes, or at its end when it is that small."""
    size = 0
    head = b''
    try:
        with open(path, 'r+b' if kept else 'wb') as out:
            out.seek(kept)
            end = os.fstat(out.fileno()).st_size
            while data := wrapper.read(CHUNK_SIZE):
                if len(head) < preview.CHECKED:
                    head += data[:preview.CHECKED - len(head)]
                    if len(head) == preview.CHECKED:
                        preview.refuse_non_image(head)
                if sender is not None and sender.takes_download:
                    sender.feed(data)
                elif size + len(data) > kept:
                    if disk_limit is not None and (
                            size + len(data) > disk_limit):
                        raise ImportFailure('disk_full',
                                            needed=size + len(data),
                                            free=disk_limit)
                    end = _write_sparse(out, data[max(kept - size, 0):],
                                        end)
                size += len(data)
                if sender is not None:
                    sender.written(wrapper, out, size)
    except OSError as exc:
        raise _write_error(exc) from exc
    preview.refuse_non_image(head, size)
    return size


class _UploadBroke(Exception):
    """The upload that the download fed broke, and may be tried again."""

    def __init__(self, image_id, error):
        super().__init__(image_id, error)
        self.image_id = image_id
        self.error = error


class _PushedChunk:
    """``read()`` gives the one chunk it was handed: an ``InspectWrapper``
    over it inspects what the caller pushes."""

    chunk = b''

    def read(self, size=None):
        chunk, self.chunk = self.chunk, b''
        return chunk


class _RawFromQcow2:
    """A qcow2 made raw as it arrives, for the upload: ``engine.qcow2``
    places the disk in the part of the work file written so far, and its
    bytes are read from there (zeros made here), format-inspected on their
    way as a converted file would be. ``sent`` is what was read so far,
    as extents, for ``finish`` to compare with ``qemu-img map``."""

    # Raw bytes sent for each write of the download at most (zeros of an
    # empty part of the disk cost no download): the download never waits
    # long, so its server does not drop it.
    AHEAD = 64 * 1024 * 1024

    def __init__(self, path, max_virtual_size):
        self.path = path
        self.max_virtual_size = max_virtual_size
        self.layout = qcow2.Layout()
        self.sent = []
        self.done = 0
        self._pushed = _PushedChunk()
        self.wrapper = format_inspector.InspectWrapper(self._pushed)

    def chunks(self, available):
        """Raw bytes of the disk that the file's first ``available`` bytes
        hold, ``AHEAD`` at most; ``NotStreamable`` if the image holds what
        only QEMU reads, or is laid out in more pieces than
        ``disk.MAX_EXTENTS`` (QEMU's map would be refused too)."""
        with open(self.path, 'rb', buffering=0) as f:
            def read(offset, size):
                return os.pread(f.fileno(), size, offset)

            # The header's size is checked before anything else is read.
            size = self.layout.header(available, read)
            if size is None:
                return
            disk.check_virtual_size(size, self.max_virtual_size)
            found = self.layout.advance(available, read, self.AHEAD)
        for length, offset in found:
            yield from self._inspected([(length, offset)])
            qcow2.merge(self.sent, length, offset)
            if len(self.sent) > disk.MAX_EXTENTS:
                raise qcow2.NotStreamable('more than %d extents'
                                          % disk.MAX_EXTENTS)
            self.done += length

    def rest(self, found):
        """The disk past what was sent, by QEMU's map ``found``."""
        return self._inspected(disk.skip(found, self.done))

    def _inspected(self, extents):
        """The bytes of ``extents`` of the work file, through the format
        inspector."""
        for data in disk.read_extents(self.path, extents):
            self._pushed.chunk = data
            yield self.wrapper.read(len(data))

    def inspected(self):
        """The raw bytes' format, once all were sent."""
        self.wrapper.close()
        return disk.inspect(None, self.wrapper.formats,
                            self.max_virtual_size, qemu=False)


class _Sender:
    """Watches the download: chooses the image's route (``choose_route``)
    as soon as its format is known and, on a route that sends while the
    download goes on, starts the upload and feeds it: the download itself
    when the image goes to Glance as it is (see engine.overlap), or the
    disk of a qcow2 made raw as the qcow2 arrives (``_RawFromQcow2``)."""

    # Past this many bytes without a known format, the upload waits.
    DECIDE_WITHIN = 64 * 1024 * 1024

    def __init__(self, request, path, reporter, algorithms=(),
                 streaming=True):
        self.request = request
        self.path = path
        self.reporter = reporter
        # May the upload start while the download goes on?
        self.streaming = streaming
        self.route = None         # chosen as soon as the format is known
        # The download is hashed as Glance hashes (the user's checksum
        # was a sha512): a download sent unchanged needs no second hash.
        self.download_hashed = glance.HASH_ALGORITHM in algorithms
        self.unchanged = False    # the bytes written are the download's
        self.decided = False
        self.format = None
        self.upload = None
        self.raw = None           # a _RawFromQcow2 that feeds the upload
        self.found = None         # the format found as the image arrived
        self.stream = None        # what unpacks the download (unpack)

    def reads(self, stream):
        """The download's bytes come through ``stream`` (``unpack``): the
        bytes written are the download's own unless it unpacks them."""
        self.unchanged = stream.compression is None and stream.archive is None
        self.stream = stream

    def feed(self, data):
        """The next bytes of the image, to the upload."""
        self.upload.reader.feed(data)

    @property
    def takes_download(self):
        """The upload is fed the download's bytes, not the work file."""
        return self.upload is not None and self.raw is None

    def written(self, wrapper, out, size):
        """The download wrote ``size`` bytes to ``out``; from the next
        ones on, it feeds ``self.upload`` once that exists, or the work
        file feeds the conversion to raw."""
        if self.raw is not None:
            out.flush()
            self.convert(size)
        if self.decided:
            return
        formats = wrapper.formats
        if formats is None:
            self.decided = size > self.DECIDE_WITHIN
            return
        self.decided = True
        if len(formats) != 1:
            return
        found = disk.READABLE.get(formats[0].NAME, (None,))[0]
        if found is None:
            return
        self.route = choose_route(
            found, self.request.disk_format or found,
            fetch.file_name(self.request.url), arriving=True,
            streaming=self.streaming, can_stream_raw=disk.can_stream_raw())
        LOG.info('%s: %s, to be %s', fetch.file_name(self.request.url), found,
                 self.route.value)
        self.reporter.route(self.route.name, found)
        self.found = found
        if self.route is Route.AS_DOWNLOADED:
            out.flush()
            self.start(found, size,
                       hashing=not (self.unchanged and self.download_hashed))
        elif self.route is Route.RAW_AS_IT_ARRIVES:
            out.flush()
            self.raw = _RawFromQcow2(self.path,
                                     self.request.max_virtual_size)
            self.convert(size)

    def convert(self, available):
        """Feed the upload the raw disk that the work file's first
        ``available`` bytes hold, starting it with the first of them. An
        image only QEMU can read stops the upload (deleting its image, if
        it began) and goes on as a download to the work file, to be
        converted once it is whole."""
        try:
            for data in self.raw.chunks(available):
                if self.upload is None:
                    # The header gave the disk's size: all of it is sent.
                    check_output(self.request, self.raw.layout.size, 'raw',
                                 'qcow2')
                    self.start('raw', 0)
                self.feed(data)
        except qcow2.NotStreamable as exc:
            LOG.info('QEMU will convert the image once it has arrived: %s',
                     exc)
            self.abandon()

    def convert_rest(self, info, reporter):
        """The download has ended and the qcow2 passed its checks: feed
        the upload the rest of the disk, where ``qemu-img map`` places it,
        once it agrees with what was sent. Returns the raw size, or None
        when QEMU must read the image (it does not agree, or the map
        cannot say): the upload is then stopped and its image deleted."""
        raw = self.raw
        found = disk.extents(self.path, info)
        if found is None or raw.layout.size != info.virtual_size or \
                not disk.agrees(self.path, raw.sent, found):
            LOG.warning('qemu-img map does not confirm where the disk of '
                        'the qcow2 lies; QEMU converts it again')
            self.abandon()
            return None
        reporter.phase('converting')
        if self.upload is None:
            self.start('raw', 0)
        total = info.virtual_size
        done = raw.done
        for data in raw.rest(found):
            self.feed(data)
            done += len(data)
            reporter.progress(done, total)
        if done != total:
            raise ImportFailure('qemu_failed', step='convert',
                                detail='%d of %d bytes' % (done, total))
        converted = raw.inspected()
        if converted.format != 'raw':
            raise ImportFailure('format_disagreement', format='raw',
                                qemu=converted.format)
        return done

    def start(self, disk_format, size, hashing=True):
        """Create the image and start its upload: the work file's first
        ``size`` bytes, then what is fed to ``self.upload.reader``
        (``hashing`` off: ``finish`` is given the download's hash)."""
        self.format = disk_format
        image_id = glance.create_image(
            self.request.glance_client, image_fields(
                self.request, disk_format, self.found,
                self.stream.compression, self.stream.member),
            self.reporter.image_created, self.request.image_id)
        self.upload = overlap.EarlyUpload(
            self.request.glance_client, image_id,
            overlap.StreamReader(self.path, size, hashing=hashing))

    @contextlib.contextmanager
    def feeding(self):
        """Around what feeds the upload and checks the image: an upload
        Glance broke becomes ``_UploadBroke`` (or its failure), and any
        failure stops the upload and deletes its image."""
        try:
            try:
                yield
            except overlap.UploadStopped:
                raise self.broke() from None
        except _UploadBroke:
            raise
        except BaseException:
            self.stop()
            raise

    def stop(self):
        """Abort the upload and delete its image."""
        if self.upload is not None:
            self.upload.stop()
            glance.delete_image(self.request.glance_client,
                                self.upload.image_id)

    def abandon(self):
        """The route chosen as the image arrived cannot finish: stop its
        upload (deleting its image); the next route is chosen once the
        download has ended (``_route_once_downloaded``)."""
        self.stop()
        self.upload = self.raw = self.route = None

    def broke(self):
        """The upload ended before the download did: ``_UploadBroke`` if
        Glance broke it for a moment and retries are left, else its
        failure (to raise; ``stop`` deletes the image)."""
        self.upload.stop()
        error = self.upload.error
        if glance.transient(error) and self.request.upload_retries:
            return _UploadBroke(self.upload.image_id, error)
        return glance.failure(error) or error

    def finish(self, size, checksums=None):
        """Send the held-back bytes; returns the image id. ``checksums``
        are the download's, for an upload that did not hash what it
        sent (the same bytes)."""
        request = self.request
        upload = self.upload
        sent = upload.reader.hash or glance.Digest(
            glance.HASH_ALGORITHM, checksums[glance.HASH_ALGORITHM])
        self.reporter.phase('uploading')
        try:
            upload.finish(self.reporter.progress, size)
        except Exception as exc:
            if not (glance.transient(exc) and glance.stored(
                    request.glance_client, upload.image_id)):
                if glance.transient(exc) and request.upload_retries:
                    raise _UploadBroke(upload.image_id, exc) from exc
                self.stop()
                raise glance.failure(exc) or exc
            # Stored all the same: its hash decides, below.
        except BaseException:
            self.stop()
            raise
        try:
            glance.check_stored(request.glance_client, upload.image_id,
                                sent)
        except BaseException:
            glance.delete_image(request.glance_client, upload.image_id)
            raise
        return upload.image_id


def run(request, workdir, reporter):
    """Import ``request`` using the private directory ``workdir``.

    Files are created under ``workdir`` only, with fixed names; the caller
    removes the directory whatever happens.
    """
    origin = establish(request)
    reporter.provenance(origin)
    request = dataclasses.replace(
        request, origin=origin, fetched_at=datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'))
    try:
        return _run(request, workdir, reporter)
    except _UploadBroke as again:
        # The bytes went to Glance, not to the disk: download them again,
        # this time to the work file, and upload that with its retries.
        LOG.warning('Upload of image %s broke (%s); downloading it again '
                    'to send it from a file', again.image_id, again.error)
        time.sleep(request.upload_retry_delay)
        request = dataclasses.replace(
            request, overlap=False, image_id=again.image_id,
            upload_retries=request.upload_retries - 1,
            upload_retry_delay=request.upload_retry_delay * 2)
        return _run(request, workdir, reporter)


def _run(request, workdir, reporter):
    origin = request.origin
    expected = origin.expected
    algorithms = sorted({DISPLAY_ALGORITHM} |
                        ({expected.algorithm} if expected else set()))
    reporter.phase('downloading')
    streaming = request.overlap and (
        expected is None or request.overlap_verified)
    sender = _Sender(request, os.path.join(workdir, SOURCE_FILE), reporter,
                     algorithms, streaming=streaming)
    with sender.feeding():
        received = receive(request, workdir, reporter, algorithms, sender)
        if expected:
            checksum.verify(expected, received.checksums)
        # A streamed image was format-inspected on its way; qemu-img has
        # no file to read (and needs none: it converts nothing).
        info = disk.inspect(received.path, received.inspectors,
                            request.max_virtual_size,
                            qemu=not received.streamed)
        if received.streamed and info.format != sender.format:
            raise ImportFailure('format_disagreement',
                                format=sender.format, qemu=info.format)
    target = request.disk_format or info.format
    route = sender.route
    if route not in (Route.AS_DOWNLOADED, Route.RAW_AS_IT_ARRIVES):
        route = _route_once_downloaded(request, sender, info, target,
                                       reporter)
    if target == 'raw' and info.format != 'raw' and (
            route is not Route.RAW_AS_IT_ARRIVES or
            sender.upload is None):
        # Made raw, the whole virtual disk goes to Glance.
        check_output(request, info.virtual_size, target, info.format)
    along = _Along(request, workdir, reporter, received, info, target,
                   sender)
    while True:
        try:
            size, image_id = FINISH[route](along)
            break
        except _FellThrough:
            route = _route_once_downloaded(request, sender, info, target,
                                           reporter)
    return ImportResult(
        image_id=image_id, source_format=info.format, disk_format=target,
        size=size, virtual_size=info.virtual_size,
        compression=received.compression, archive_member=received.member,
        checksums=received.checksums,
        verified=expected.algorithm if expected else None,
        origin=origin,
        resumed_at=received.resumed_at,
        suggestions=suggest.suggest(received.member or
                                    fetch.file_name(request.url),
                                    info.virtual_size))


@dataclasses.dataclass(frozen=True)
class _Along:
    """What each route's finishing step is given once the download has
    ended and the image passed its checks."""

    request: ImportRequest
    workdir: str
    reporter: object
    received: Downloaded
    info: disk.DiskInfo
    target: str
    sender: '_Sender'


class _FellThrough(Exception):
    """The route cannot finish after all; the next one is chosen."""


def _finish_as_downloaded(along):
    """The upload took the download itself: send the held-back end."""
    size = along.received.size
    return size, along.sender.finish(size, along.received.checksums)


def _finish_raw_as_it_arrived(along):
    """The rest of the disk, where ``qemu-img map`` agrees with what was
    sent; ``_FellThrough`` where it does not (the upload is stopped and
    its image deleted)."""
    with along.sender.feeding():
        size = along.sender.convert_rest(along.info, along.reporter)
    if size is None:
        raise _FellThrough()
    return size, along.sender.finish(size)


def _finish_converted_into_upload(along):
    with along.sender.feeding():
        size = _convert_streamed(along.request, along.workdir,
                                 along.reporter, along.received, along.info,
                                 along.sender)
    return size, along.sender.finish(size)


def _finish_converted_to_file(along):
    data = _convert(along.request, along.workdir, along.reporter,
                    along.received, along.info, along.target)
    return _upload_file(along, data)


def _finish_from_file(along):
    received = along.received
    known = None
    if (received.compression is None and received.member is None and
            glance.HASH_ALGORITHM in received.checksums):
        # The download itself, hashed as Glance hashes (the user's
        # checksum was a sha512): no second hash.
        known = glance.Digest(glance.HASH_ALGORITHM,
                              received.checksums[glance.HASH_ALGORITHM])
    return _upload_file(along, received.path, known)


# Each route's last step: one function each, given ``_Along``, returning
# ``(size, image_id)``.
FINISH = {
    Route.AS_DOWNLOADED: _finish_as_downloaded,
    Route.RAW_AS_IT_ARRIVES: _finish_raw_as_it_arrived,
    Route.CONVERTED_INTO_UPLOAD: _finish_converted_into_upload,
    Route.CONVERTED_TO_FILE: _finish_converted_to_file,
    Route.FILE: _finish_from_file,
}


def _route_once_downloaded(request, sender, info, target, reporter):
    """The route for the whole file (the format as qemu-img confirmed it),
    when none fed the upload as the download arrived, or that one fell
    through. Recorded when it differs from the one chosen early."""
    route = choose_route(info.format, target, fetch.file_name(request.url),
                         arriving=False, streaming=sender.streaming,
                         can_stream_raw=disk.can_stream_raw())
    if route is not sender.route:
        LOG.info('%s: %s, to be %s', fetch.file_name(request.url), info.format,
                 route.value)
        reporter.route(route.name, info.format)
    return route


def _upload_file(along, data, known=None):
    """Send the file ``data`` (of hash ``known``, if known); returns
    ``(size, image_id)``."""
    request, info, target = along.request, along.info, along.target
    size = os.path.getsize(data)
    if target not in ('raw', info.format):
        check_output(request, size, target, info.format)
    along.reporter.phase('uploading')
    image_id = glance.upload(
        request.glance_client, image_fields(
            request, target, info.format, along.received.compression,
            along.received.member), data, size,
        along.reporter.progress, along.reporter.image_created,
        image_id=request.image_id, retries=request.upload_retries,
        delay=request.upload_retry_delay, known=known)
    return size, image_id


class _Chunks:
    """``read()`` over an iterator of chunks, for ``InspectWrapper``."""

    def __init__(self, chunks):
        self._chunks = chunks

    def read(self, size=None):
        return next(self._chunks, b'')

    def close(self):
        self._chunks.close()


def _convert_streamed(request, workdir, reporter, received, info,
                      sender):
    """Convert to raw straight into the upload, as QEMU reads the image
    (``disk.raw_chunks``): no converted file. The raw bytes are
    format-inspected on their way, as a converted file would be. Returns
    their size."""
    reporter.phase('converting')
    sender.start('raw', 0)
    total = info.virtual_size
    wrapper = format_inspector.InspectWrapper(_Chunks(disk.raw_chunks(
        received.path, info, os.path.join(workdir, 'convert.stderr'))))
    done = 0
    try:
        while data := wrapper.read(CHUNK_SIZE):
            sender.feed(data)
            done += len(data)
            reporter.progress(done, total)
    finally:
        wrapper.close()     # closes the file, or stops qemu-nbd and nbdcopy
    if done != total:
        raise ImportFailure('qemu_failed', step='convert',
                            detail='%d of %d bytes' % (done, total))
    converted = disk.inspect(None, wrapper.formats, request.max_virtual_size,
                             qemu=False)
    if converted.format != 'raw':
        raise ImportFailure('format_disagreement', format='raw',
                            qemu=converted.format)
    return done


def _convert(request, workdir, reporter, received, info, target):
    require_space(workdir, info.virtual_size, request.reserve)
    reporter.phase('converting')
    data = os.path.join(workdir, 'converted')
    disk.convert(received.path, info, data, target, reporter.progress)
    os.unlink(received.path)
    converted = disk.inspect(data)
    if converted.format != target:
        raise ImportFailure('format_disagreement', format=target,
                            qemu=converted.format)
    return data
