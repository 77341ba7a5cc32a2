"""Upload to Glance while the download is still arriving.

Glance's ingestion is the slowest step of an import, so when the image
goes to Glance as it is (no conversion), the upload starts as soon as the
format is known and is fed the download's bytes as they arrive, through
memory (``StreamReader``): the image is not written to local disk, which
on a busy host also leaves the page cache to Glance. The last ``HOLD``
bytes are held back until the download has ended and every check has
passed (checksum, format inspection): an image whose checks fail never
receives its last bytes, so Glance never makes it active, and it is
deleted.

A Glance that breaks the upload ends it; the caller sends the image
again (``UploadStopped`` stops the download that feeds it).
"""

import collections
import hashlib
import logging
import threading

from image_importer.engine import glance

LOG = logging.getLogger(__name__)

# Bytes held back until the checks pass; more than any chunk in flight.
HOLD = 4 * 1024 * 1024


# Bytes fed and not yet sent, past which the download waits for Glance.
BUFFER = 16 * 1024 * 1024


class Aborted(Exception):
    """The upload was stopped because the checks failed or the job ended."""


class UploadStopped(Exception):
    """The upload ended (Glance broke it) before it had taken every byte."""


class StreamReader:
    """``read(n)`` for the upload: the first ``start`` bytes of the file
    at ``path`` (what the download wrote before the upload began), then
    what ``feed`` is given. At most ``limit`` fed bytes wait in memory:
    past that, ``feed`` waits for the upload to take half of them.
    ``hash`` is Glance's hash of what was sent, unless ``hashing`` is off
    (the caller has that hash already: the download's own, when it is
    sent unchanged)."""

    def __init__(self, path, start, limit=BUFFER, hashing=True):
        if limit <= HOLD:
            raise ValueError('the buffer must hold more than HOLD bytes')
        self._path = path
        self._file = None
        self._start = start
        self._limit = limit
        self._chunks = collections.deque()
        self._offset = 0          # bytes of the first chunk already sent
        self._buffered = 0
        self._low = None          # the feed waits for the buffer to drop
        self._cond = threading.Condition()
        self._written = start
        self._released = False    # the checks passed: send everything
        self._aborted = False
        self._ended = False       # the upload takes no more
        self.sent = 0
        self.hash = hashlib.new(glance.HASH_ALGORITHM) if hashing else None

    # -- the download's side ------------------------------------------

    def feed(self, data):
        """Hand the upload the download's next bytes; ``UploadStopped`` if
        it has ended, ``Aborted`` if it was stopped."""
        with self._cond:
            if self._buffered + len(data) > self._limit:
                # Full: wait until the upload has taken a good part of the
                # buffer (half of it; never less than the held-back bytes
                # leave), not for every piece it takes: one wake-up per
                # 64 KiB piece cost the upload's thread about a third of
                # its time.
                self._low = max(min(self._limit - len(data),
                                    max(self._limit // 2, HOLD)), 0)
                while (self._buffered > self._low and
                       not (self._aborted or self._ended)):
                    self._cond.wait(1)
                self._low = None
            if self._aborted:
                raise Aborted()
            if self._ended:
                raise UploadStopped()
            self._chunks.append(data)
            self._buffered += len(data)
            self._written += len(data)
            self._cond.notify_all()

    def release(self):
        with self._cond:
            self._released = True
            self._cond.notify_all()

    def abort(self):
        with self._cond:
            self._aborted = True
            self._cond.notify_all()

    # -- the upload's side --------------------------------------------

    def _allowed(self):
        """How far the upload may read: all once released, else all but
        the last HOLD bytes."""
        if self._released:
            return self._written
        return max(self._written - HOLD, 0)

    def read(self, size=glance.UPLOAD_PIECE):
        if size is None or size < 0 or size > glance.UPLOAD_PIECE:
            size = glance.UPLOAD_PIECE
        with self._cond:
            while True:
                if self._aborted:
                    raise Aborted()
                allowed = self._allowed()
                if allowed > self.sent:
                    break
                if self._released and self.sent >= self._written:
                    return b''
                self._cond.wait(1)
            size = min(size, allowed - self.sent)
            if self.sent >= self._start:
                data = self._take(size)
                if self._low is not None and self._buffered <= self._low:
                    self._cond.notify_all()
        if self.sent < self._start:
            if self._file is None:
                self._file = open(self._path, 'rb')
            self._file.seek(self.sent)
            data = self._file.read(min(size, self._start - self.sent))
        self.sent += len(data)
        if self.hash is not None:
            self.hash.update(data)
        return data

    def _take(self, size):
        """Up to ``size`` bytes from the front of the buffer."""
        first, start = self._chunks[0], self._offset
        # A slice of a whole bytes object is that object: no copy.
        data = first[start:start + size]
        if start + len(data) < len(first):
            self._offset = start + len(data)
        else:
            self._chunks.popleft()
            self._offset = 0
        self._buffered -= len(data)
        return data

    def end(self):
        with self._cond:
            self._ended = True
            self._cond.notify_all()
        if self._file is not None:
            self._file.close()


class EarlyUpload:
    """A Glance upload running in a thread, fed by a ``StreamReader``."""

    def __init__(self, client, image_id, reader):
        self.client = client
        self.image_id = image_id
        self.reader = reader
        self.error = None
        self._thread = threading.Thread(target=self._upload, daemon=True,
                                        name='upload-%s' % image_id)
        self._thread.start()

    def _upload(self):
        try:
            self.client.images.upload(self.image_id, self.reader)
        except BaseException as exc:    # noqa: B036 - handed to the caller
            self.error = exc
        finally:
            self.reader.end()

    def finish(self, progress, total):
        """Send the held-back bytes and wait, reporting progress; the
        upload's error, if any, is raised (``Cancelled`` from
        ``progress`` aborts it)."""
        self.reader.release()
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
                progress(self.reader.sent, total)
        except BaseException:
            self.stop()
            raise
        if self.error is not None:
            raise self.error
        progress(total, total)

    def stop(self):
        """Abort the upload and wait for its thread."""
        self.reader.abort()
        self._thread.join(60)
        if self._thread.is_alive():
            LOG.warning('Upload of image %s did not stop', self.image_id)
