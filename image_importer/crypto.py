"""Encryption at rest for the secrets a job must carry (token, credentials).

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``. The key is
``IMAGE_IMPORTER['ENCRYPTION_KEY']`` or, when unset, derived from Django's
SECRET_KEY with HKDF, so web and worker processes that share settings share
the key and nothing secret is ever stored in the clear.

Keys rotate: ``ENCRYPTION_KEY`` may be a list, newest first; secrets are
encrypted with the first and decrypted with any of them, and with the
keys derived from ``SECRET_KEY`` and Django's ``SECRET_KEY_FALLBACKS``
(so a switch from the derived key to an explicit one, or a new
``SECRET_KEY`` with the old one among the fallbacks, keeps the secrets of
jobs already queued readable).
"""

import base64
import functools
import hmac

from cryptography.fernet import Fernet
from cryptography.fernet import MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from image_importer import conf


def _derived(secret_key, purpose=b'job secrets'):
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b'horizon-image-importer ' + purpose).derive(
                   secret_key.encode())
    return base64.urlsafe_b64encode(key)


@functools.lru_cache(maxsize=4)
def _fernet(configured, secret_keys):
    keys = list(configured) + [_derived(key) for key in secret_keys]
    return MultiFernet([Fernet(key) for key in keys])


def _box():
    configured = conf.get('ENCRYPTION_KEY') or ()
    if isinstance(configured, (str, bytes)):
        configured = (configured,)
    secret_keys = (settings.SECRET_KEY,
                   *getattr(settings, 'SECRET_KEY_FALLBACKS', ()))
    return _fernet(tuple(configured), tuple(secret_keys))


def encrypt(text):
    """Encrypt ``text``; an empty or None value stays empty."""
    if not text:
        return ''
    return _box().encrypt(text.encode()).decode('ascii')


def decrypt(token):
    if not token:
        return None
    return _box().decrypt(token.encode('ascii')).decode()


def fingerprint(*parts):
    """A keyed hash of ``parts`` (hex): a name that tells equal values
    apart without revealing them (e.g. a source's password)."""
    key = _derived(settings.SECRET_KEY, b'fingerprints')
    message = '\0'.join(part or '' for part in parts).encode()
    return hmac.new(key, message, 'sha256').hexdigest()
