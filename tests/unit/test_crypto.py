"""Job secrets at rest: encrypted, and readable across a key rotation."""

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
import pytest

from image_importer import crypto

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def test_a_secret_is_never_stored_as_it_is(settings):
    settings.IMAGE_IMPORTER = {'ENCRYPTION_KEY': OLD_KEY}
    stored = crypto.encrypt('user:s3cret')
    assert 's3cret' not in stored
    assert crypto.decrypt(stored) == 'user:s3cret'


def test_a_new_encryption_key_reads_what_the_old_one_wrote(settings):
    settings.IMAGE_IMPORTER = {'ENCRYPTION_KEY': OLD_KEY}
    stored = crypto.encrypt('token-1')

    settings.IMAGE_IMPORTER = {'ENCRYPTION_KEY': [NEW_KEY, OLD_KEY]}
    assert crypto.decrypt(stored) == 'token-1'
    # New secrets use the newest key only.
    fresh = crypto.encrypt('token-2')
    assert Fernet(NEW_KEY).decrypt(fresh.encode()) == b'token-2'
    with pytest.raises(InvalidToken):
        Fernet(OLD_KEY).decrypt(fresh.encode())

    # Once the old key is dropped, what only it could read is unreadable.
    settings.IMAGE_IMPORTER = {'ENCRYPTION_KEY': [NEW_KEY]}
    assert crypto.decrypt(fresh) == 'token-2'
    with pytest.raises(InvalidToken):
        crypto.decrypt(stored)


def test_a_new_secret_key_reads_with_the_old_among_the_fallbacks(settings):
    settings.IMAGE_IMPORTER = {}
    settings.SECRET_KEY = 'old-secret-key-' * 4
    stored = crypto.encrypt('token-1')

    settings.SECRET_KEY = 'new-secret-key-' * 4
    settings.SECRET_KEY_FALLBACKS = ['old-secret-key-' * 4]
    assert crypto.decrypt(stored) == 'token-1'

    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(InvalidToken):
        crypto.decrypt(stored)


def test_an_explicit_key_still_reads_what_the_derived_key_wrote(settings):
    settings.IMAGE_IMPORTER = {}
    stored = crypto.encrypt('token-1')

    settings.IMAGE_IMPORTER = {'ENCRYPTION_KEY': NEW_KEY}
    assert crypto.decrypt(stored) == 'token-1'
    assert Fernet(NEW_KEY).decrypt(crypto.encrypt('x').encode()) == b'x'
