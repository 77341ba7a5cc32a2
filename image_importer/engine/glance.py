"""Create and upload a Glance image with the submitting user's authority."""

import hashlib
import logging
import time

from glanceclient import client as glance_client
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint

from image_importer.engine.errors import ImportFailure

LOG = logging.getLogger(__name__)
# Glance's default hashing_algorithm; what os_hash_value holds.
HASH_ALGORITHM = 'sha512'
# The largest piece an upload reads, so the largest HTTP chunk it sends
# (glanceclient asks for 1 MiB and sends each read as one chunk). Glance
# under gunicorn receives each chunk whole: with 1 MiB chunks each piece
# is a fresh large allocation, and a 2 GiB PUT cost it 1.4-3.5 million
# page faults and half again the time of 64 KiB chunks (22-26 s against
# 15 s; README, "Benchmarks").
UPLOAD_PIECE = 64 * 1024


def make_client(endpoint, token, verify=True):
    """A Glance v2 client on a keystoneauth session with the user's token."""
    auth = token_endpoint.Token(endpoint, token)
    session = ks_session.Session(auth=auth, verify=verify,
                                 user_agent='horizon-image-importer')
    return glance_client.Client('2', session=session)


def session_client(session, endpoint):
    """A Glance v2 client on any keystoneauth ``session`` (a trust's, for
    one), talking to ``endpoint`` whatever the token's catalog says."""
    return glance_client.Client('2', session=session,
                                endpoint_override=endpoint)


class ProgressReader:
    """A file wrapper that reports how much of it has been read, and
    hashes it as Glance does, to compare with the image's
    ``os_hash_value`` afterwards."""

    def __init__(self, fileobj, total, progress, algorithm=HASH_ALGORITHM,
                 known=None):
        self._file = fileobj
        self._total = total
        self._progress = progress
        self._done = 0
        # ``known``: the file's hash, computed before (``Digest``).
        self.hash = known or hashlib.new(algorithm)
        self._hashing = known is None

    def read(self, size=-1):
        if size is None or size < 0 or size > UPLOAD_PIECE:
            size = UPLOAD_PIECE
        data = self._file.read(size)
        if self._hashing:
            self.hash.update(data)
        self._done += len(data)
        self._progress(self._done, self._total)
        return data


class Digest:
    """A hash computed elsewhere, read as a hashlib object is (``name``,
    ``hexdigest()``)."""

    def __init__(self, name, hexdigest):
        self.name = name
        self._hexdigest = hexdigest

    def hexdigest(self):
        return self._hexdigest


def _verify_stored(image, sent):
    """Glance's hash of what it stored must be the hash of what was sent."""
    algorithm = getattr(image, 'os_hash_algo', None)
    stored = getattr(image, 'os_hash_value', None)
    if algorithm != sent.name or not stored:
        LOG.info('Image %s not compared end to end: Glance hashes with %s',
                 image.id, algorithm)
        return
    if stored != sent.hexdigest():
        raise ImportFailure('glance_hash_mismatch', algorithm=algorithm,
                            sent=sent.hexdigest(), stored=stored)


def failure(exc):
    """Translate a Glance or Keystone error into an ``ImportFailure``."""
    if isinstance(exc, glance_exc.HTTPUnauthorized):
        return ImportFailure('token_expired')
    if isinstance(exc, glance_exc.HTTPForbidden):
        return ImportFailure('glance_forbidden', detail=_details(exc))
    if isinstance(exc, glance_exc.HTTPOverLimit):
        return ImportFailure('glance_too_large', detail=_details(exc))
    if isinstance(exc, glance_exc.HTTPException):
        return ImportFailure('glance_error', status=exc.code,
                             detail=_details(exc))
    if isinstance(exc, (ks_exc.ConnectionError,
                        glance_exc.CommunicationError)):
        return ImportFailure('glance_unreachable')
    return None


def _details(exc):
    return str(getattr(exc, 'details', '') or exc)[:500]


# Answers and errors after which the same upload is tried again.
TRANSIENT_STATUS = (502, 503, 504)


def transient(exc):
    """A failure of Glance or the network that may pass, after which the
    image's state says what to do (``upload``): a gateway's 5xx, a broken
    connection, or Glance's own 500 (its database busy as it marks the
    image active, say)."""
    if isinstance(exc, glance_exc.HTTPException):
        return exc.code in TRANSIENT_STATUS or exc.code == 500
    # glanceclient wraps a broken connection as CommunicationError.
    return isinstance(exc, (glance_exc.CommunicationError,
                            ks_exc.ConnectionError, ConnectionError))


def _status(client, image_id):
    try:
        return client.images.get(image_id).status
    except glance_exc.HTTPNotFound:
        return None


def _settled(client, image_id, polls=30, sleep=time.sleep):
    """The image's status once Glance is done with a broken upload (None
    if it is gone): after an upload breaks, Glance puts the image back to
    ``queued``, and may take a moment to notice a connection that died;
    still ``saving`` after ``polls`` seconds, it is stuck."""
    for _poll in range(polls):
        status = _status(client, image_id)
        if status != 'saving':
            return status
        sleep(1)
    return _status(client, image_id)


def stored(client, image_id, sleep=time.sleep):
    """After an upload failed as it ended: did Glance store the image all
    the same (active; its hash is still to be compared)?"""
    if _settled(client, image_id, sleep=sleep) != 'active':
        return False
    LOG.info('Image %s was stored despite the error', image_id)
    return True


def _ready_for_data(client, image_id, sleep=time.sleep):
    """True once the image waits for data again."""
    return _settled(client, image_id, sleep=sleep) == 'queued'


def create_image(client, meta, on_created, image_id=None,
                 sleep=time.sleep):
    """The image to upload into: ``image_id`` (made by an earlier run of
    the job) if it still waits for data, else a new one, announced with
    ``on_created(image_id)``; the old one is deleted."""
    if image_id and _ready_for_data(client, image_id, sleep=sleep):
        LOG.info('Uploading again into image %s', image_id)
        return image_id
    if image_id:
        delete_image(client, image_id)
    try:
        image_id = client.images.create(**meta).id
    except Exception as exc:
        raise failure(exc) or exc
    try:
        on_created(image_id)
    except BaseException:
        # Not recorded (the job was cancelled that moment): nothing else
        # knows of the image.
        delete_image(client, image_id)
        raise
    return image_id


def check_stored(client, image_id, sent):
    """The image must be active and hold what was sent (``sent`` is the
    hash of the bytes sent)."""
    try:
        image = client.images.get(image_id)
    except (glance_exc.HTTPUnauthorized, glance_exc.HTTPForbidden):
        # The authority ran out after Glance had taken every byte (its
        # answer to the upload said so): the image stands, unverified.
        LOG.warning('Image %s stored, but could not be read back to '
                    'compare its hash: the authority expired', image_id)
        return
    if image.status != 'active':
        raise ImportFailure('glance_not_active', status=image.status)
    _verify_stored(image, sent)


def upload(client, meta, path, size, progress, on_created, image_id=None,
           retries=0, delay=2.0, sleep=time.sleep, known=None):
    """Create an image from ``meta`` and upload the file at ``path``.

    ``image_id`` is an image an earlier run of the job created: it is
    used again if it still waits for data, else deleted and made anew, so
    a job never leaves two images. ``on_created(image_id)`` is called as
    soon as a new image record exists. A 502/503/504 or a broken
    connection is tried again ``retries`` times, waiting ``delay`` seconds,
    doubled each time. Any failure (or ``Cancelled`` raised by
    ``progress``) deletes the image, so no half-made image is left behind.
    ``known``: the file's hash as Glance computes it (``Digest``), when
    known already: it is not hashed again. Returns the image id.
    """
    image_id = create_image(client, meta, on_created, image_id, sleep=sleep)
    try:
        for attempt in range(retries + 1):
            try:
                with open(path, 'rb') as data:
                    reader = ProgressReader(data, size, progress,
                                            known=known)
                    client.images.upload(image_id, reader, image_size=size)
                break
            except Exception as exc:
                if attempt == retries or not transient(exc):
                    raise
                wait = delay * 2 ** attempt
                LOG.warning('Upload of image %s failed (%s); trying again '
                            'in %.0f s', image_id, _details(exc), wait)
                sleep(wait)
                status = _settled(client, image_id, sleep=sleep)
                if status == 'active':
                    LOG.info('Image %s was stored despite the error; its '
                             'hash decides', image_id)
                    break
                if status != 'queued':
                    # Killed, stuck or gone: a new image in its place
                    # (the old one deleted), never two.
                    image_id = create_image(client, meta, on_created,
                                            image_id, sleep=sleep)
        check_stored(client, image_id, reader.hash)
    except BaseException as exc:
        delete_image(client, image_id)
        mapped = failure(exc) if isinstance(exc, Exception) else None
        if mapped is not None:
            raise mapped from exc
        raise
    return image_id


# Glance's unified-limits resources (GET /v2/info/usage): image_size_total
# is in MiB, the others count images. A limit of -1 means unlimited.
QUOTA_SIZE = 'image_size_total'
QUOTA_COUNT = 'image_count_total'
QUOTA_UPLOADING = 'image_count_uploading'
MiB = 1024 * 1024


def check_quota(client, size=None, new_image=True):
    """Refuse early an image that Glance's quotas would refuse at upload.

    ``size`` is what the image will take at least, in bytes (None when not
    known: only the image counts are checked); ``new_image`` is False when
    the data goes into an image that already exists. The rules are
    Glance's own: one more image must fit ``image_count_total`` (when it
    is new) and ``image_count_uploading``, and the usage plus
    ``size // MiB`` must fit ``image_size_total``. Raises
    ``ImportFailure`` (``glance_quota_count``, ``glance_quota_uploading``,
    ``glance_quota_size``) when it would not; returns quietly when Glance
    enforces no quotas (it then reports no usage), is too old to report
    them, or cannot say: Glance checks again when the image is created and
    uploaded, so this check is only early.
    """
    try:
        usage = client.info.get_usage()
    except (glance_exc.BaseException, glance_exc.ClientException,
            ks_exc.ClientException) as exc:
        LOG.info('Image quotas not checked: Glance did not report usage '
                 '(%s)', exc)
        return
    try:
        quotas = {name: (int(entry['usage']), int(entry['limit']))
                  for name, entry in (usage or {}).items()
                  if name in (QUOTA_SIZE, QUOTA_COUNT, QUOTA_UPLOADING)}
    except (AttributeError, KeyError, TypeError, ValueError):
        LOG.warning('Image quotas not checked: unexpected usage report %r',
                    usage)
        return

    def over(name, delta):
        used, limit = quotas.get(name, (0, -1))
        return limit >= 0 and used + delta > limit

    if over(QUOTA_COUNT, 1 if new_image else 0):
        used, limit = quotas[QUOTA_COUNT]
        raise ImportFailure('glance_quota_count', usage=used, limit=limit)
    if over(QUOTA_UPLOADING, 1):
        used, limit = quotas[QUOTA_UPLOADING]
        raise ImportFailure('glance_quota_uploading', usage=used,
                            limit=limit)
    if size is not None and over(QUOTA_SIZE, size // MiB):
        used, limit = quotas[QUOTA_SIZE]
        raise ImportFailure('glance_quota_size', size=size,
                            limit=limit * MiB,
                            free=max(limit - used, 0) * MiB)


def delete_image(client, image_id):
    """Delete an image we made; True once it is gone. A failure is
    logged, not raised. A protected image (the user asked for one) is
    unprotected first: Glance refuses to delete it otherwise."""
    try:
        if getattr(client.images.get(image_id), 'protected', False):
            client.images.update(image_id, protected=False)
        client.images.delete(image_id)
    except glance_exc.HTTPNotFound:
        return True
    except Exception:
        LOG.warning('Could not delete unfinished image %s', image_id,
                    exc_info=True)
        return False
    return True


# What retiring an image did (``retire_image``).
HIDDEN = 'hidden'
DELETED = 'deleted'
GONE = 'gone'                   # deleted by someone else already
KEPT_PROTECTED = 'protected'    # a protected image is never deleted
KEPT_IN_USE = 'in_use'          # Glance refused: in use (a volume's clone)
KEPT_REFUSED = 'refused'        # Glance refused otherwise


def retire_image(client, image_id, delete=False):
    """Hide an image from image lists (``os_hidden``), or delete it unless
    it is protected; returns what was done, never raises for Glance's
    refusal (the image is then kept, and the answer says why)."""
    try:
        image = client.images.get(image_id)
        if not delete:
            if not getattr(image, 'os_hidden', False):
                client.images.update(image_id, os_hidden=True)
            return HIDDEN
        if getattr(image, 'protected', False):
            return KEPT_PROTECTED
        client.images.delete(image_id)
    except glance_exc.HTTPNotFound:
        return GONE
    except glance_exc.HTTPConflict:
        return KEPT_IN_USE
    except glance_exc.HTTPException as exc:
        LOG.warning('Glance would not retire image %s: %s', image_id,
                    _details(exc))
        return KEPT_REFUSED
    return DELETED
