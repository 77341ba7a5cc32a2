"""A stand-in for a Glance v2 client, for tests and benchmarks that measure
or exercise the pipeline without a real Glance.

It answers what ``image_importer.engine.glance`` and ``engine.overlap`` ask
of glanceclient: images are kept in memory, their data read to the end,
hashed as Glance hashes it (sha512) and counted, never stored. No quotas
(``info.get_usage`` answers as a Glance without unified limits).
"""

import hashlib
import threading
import types
import uuid

from glanceclient import exc as glance_exc

PIECE = 64 * 1024


class FakeGlance:

    def __init__(self):
        self.images = _Images()
        self.info = types.SimpleNamespace(get_usage=lambda: {})


class _Images:

    def __init__(self):
        self._images = {}
        self._lock = threading.Lock()
        # Every image ever created, deleted or not.
        self.created = []

    def create(self, **meta):
        image = types.SimpleNamespace(
            id=str(uuid.uuid4()), status='queued', protected=False,
            size=None, os_hash_algo=None, os_hash_value=None, **meta)
        with self._lock:
            self._images[image.id] = image
            self.created.append(image.id)
        return image

    def get(self, image_id):
        with self._lock:
            try:
                return self._images[image_id]
            except KeyError:
                raise glance_exc.HTTPNotFound(image_id)

    def update(self, image_id, **fields):
        image = self.get(image_id)
        for name, value in fields.items():
            setattr(image, name, value)
        return image

    def delete(self, image_id):
        with self._lock:
            if self._images.pop(image_id, None) is None:
                raise glance_exc.HTTPNotFound(image_id)

    def upload(self, image_id, data, image_size=None):
        image = self.get(image_id)
        image.status = 'saving'
        digest = hashlib.sha512()
        size = 0
        for piece in _pieces(data):
            digest.update(piece)
            size += len(piece)
        image.status = 'active'
        image.size = size
        image.os_hash_algo = 'sha512'
        image.os_hash_value = digest.hexdigest()

    def list(self):
        with self._lock:
            return list(self._images.values())


def _pieces(data):
    """The bytes of a file-like object or an iterable of chunks."""
    if hasattr(data, 'read'):
        while piece := data.read(PIECE):
            yield piece
    else:
        yield from data
