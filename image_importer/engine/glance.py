"""Create and upload a Glance image with the submitting user's authority."""

import logging

from glanceclient import client as glance_client
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint

from image_importer.engine.errors import ImportFailure

LOG = logging.getLogger(__name__)


def make_client(endpoint, token, verify=True):
    """A Glance v2 client on a keystoneauth session with the user's token."""
    auth = token_endpoint.Token(endpoint, token)
    session = ks_session.Session(auth=auth, verify=verify,
                                 user_agent='horizon-image-importer')
    return glance_client.Client('2', session=session)


class ProgressReader:
    """A file wrapper that reports how much of it has been read."""

    def __init__(self, fileobj, total, progress):
        self._file = fileobj
        self._total = total
        self._progress = progress
        self._done = 0

    def read(self, size=-1):
        data = self._file.read(size)
        self._done += len(data)
        self._progress(self._done, self._total)
        return data


def _failure(exc):
    """Translate a Glance or Keystone error into an ``ImportFailure``."""
    if isinstance(exc, glance_exc.HTTPUnauthorized):
        return ImportFailure('token_expired')
    if isinstance(exc, glance_exc.HTTPForbidden):
        return ImportFailure('glance_forbidden', detail=_details(exc))
    if isinstance(exc, glance_exc.HTTPRequestEntityTooLarge):
        return ImportFailure('glance_too_large', detail=_details(exc))
    if isinstance(exc, glance_exc.HTTPException):
        return ImportFailure('glance_error', status=exc.code,
                             detail=_details(exc))
    if isinstance(exc, ks_exc.ConnectionError):
        return ImportFailure('glance_unreachable')
    return None


def _details(exc):
    return str(getattr(exc, 'details', '') or exc)[:500]


def upload(client, meta, path, size, progress, on_created):
    """Create an image from ``meta`` and upload the file at ``path``.

    ``on_created(image_id)`` is called as soon as the image record exists.
    Any failure (or ``Cancelled`` raised by ``progress``) deletes the image
    again, so no half-made image is left behind. Returns the image id.
    """
    try:
        image = client.images.create(**meta)
    except Exception as exc:
        raise _failure(exc) or exc
    try:
        on_created(image.id)
        with open(path, 'rb') as data:
            reader = ProgressReader(data, size, progress)
            client.images.upload(image.id, reader, image_size=size)
        status = client.images.get(image.id).status
        if status != 'active':
            raise ImportFailure('glance_not_active', status=status)
    except BaseException as exc:
        delete_image(client, image.id)
        failure = _failure(exc) if isinstance(exc, Exception) else None
        if failure is not None:
            raise failure from exc
        raise
    return image.id


def delete_image(client, image_id):
    """Delete an image we made; a failure is logged, not raised."""
    try:
        client.images.delete(image_id)
    except glance_exc.HTTPNotFound:
        pass
    except Exception:
        LOG.warning('Could not delete unfinished image %s', image_id,
                    exc_info=True)
