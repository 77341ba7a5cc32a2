"""Encryption at rest for the secrets a job must carry (token, credentials).

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``. The key is
``IMAGE_IMPORTER['ENCRYPTION_KEY']`` or, when unset, derived from Django's
SECRET_KEY with HKDF, so web and worker processes that share settings share
the key and nothing secret is ever stored in the clear.
"""

import base64
import functools

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from image_importer import conf


@functools.lru_cache(maxsize=4)
def _fernet(configured, secret_key):
    if configured:
        return Fernet(configured)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b'horizon-image-importer job secrets').derive(
                   secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _box():
    return _fernet(conf.get('ENCRYPTION_KEY'), settings.SECRET_KEY)


def encrypt(text):
    """Encrypt ``text``; an empty or None value stays empty."""
    if not text:
        return ''
    return _box().encrypt(text.encode()).decode('ascii')


def decrypt(token):
    if not token:
        return None
    return _box().decrypt(token.encode('ascii')).decode()
