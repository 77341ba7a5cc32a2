"""Upload to Glance while the download is still arriving.

Glance's ingestion is the slowest step of an import, so when the image
goes to Glance as it is (no conversion), the upload starts as soon as the
format is known and follows the work file as the download writes it. The
last ``HOLD`` bytes are held back until the download has ended and every
check has passed (checksum, format inspection, ``qemu-img info``): an
image whose checks fail never receives its last bytes, so Glance never
makes it active, and it is deleted.

The work file stays on disk, so a job that loses its worker still resumes
its download, and an upload that Glance breaks is sent again from the
file (``glance.upload`` with its retries).
"""

import hashlib
import logging
import threading

from image_importer.engine import glance

LOG = logging.getLogger(__name__)

# Bytes held back until the checks pass; more than any chunk in flight.
HOLD = 4 * 1024 * 1024
CHUNK_SIZE = 1024 * 1024


class Aborted(Exception):
    """The upload was stopped because the checks failed or the job ended."""


class FollowReader:
    """``read(n)`` over a file another thread is still writing."""

    def __init__(self, path):
        self._path = path
        self._file = None
        self._cond = threading.Condition()
        self._written = 0
        self._released = False    # the checks passed: send everything
        self._aborted = False
        self.sent = 0
        self.hash = hashlib.new(glance.HASH_ALGORITHM)

    # -- the writer's side --------------------------------------------

    def wrote(self, total):
        with self._cond:
            self._written = total
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
        the last HOLD bytes written."""
        if self._released:
            return self._written
        return max(self._written - HOLD, 0)

    def read(self, size=CHUNK_SIZE):
        if size is None or size < 0:
            size = CHUNK_SIZE
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
        if self._file is None:
            self._file = open(self._path, 'rb')
        self._file.seek(self.sent)
        data = self._file.read(min(size, allowed - self.sent))
        self.sent += len(data)
        self.hash.update(data)
        return data

    def close(self):
        if self._file is not None:
            self._file.close()


class EarlyUpload:
    """A Glance upload running in a thread, fed by a ``FollowReader``."""

    def __init__(self, client, image_id, path):
        self.client = client
        self.image_id = image_id
        self.reader = FollowReader(path)
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
            self.reader.close()

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
