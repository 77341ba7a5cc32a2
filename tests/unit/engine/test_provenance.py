"""What an image is checked against, and who vouches for it: checksum
files found or named, signed with keys made here, served for real."""

import hashlib

import pytest

from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import provenance
from image_importer.engine import signature
from tools.fileserver import FileServer

IMAGE = b'QFI\xfb' + b'\0' * 4092
SHA256 = hashlib.sha256(IMAGE).hexdigest()
SUMS = ('%s *jammy.img\n%s *other.img\n' % (SHA256, 'e' * 64)).encode()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / 'srv'
    root.mkdir()
    (root / 'jammy.img').write_bytes(IMAGE)
    return root


def establish(server, keys=None, require=False, **given):
    fetcher = fetch.Fetcher(fetch.UrlPolicy(
        allow=('127.0.0.1:%d' % server.port,)))
    return provenance.establish(
        fetcher, server.url('jammy.img'), None,
        policy=provenance.Policy(trusted_keys=keys,
                                 require_signature=require), **given)


def test_a_signed_checksum_file_found_beside_the_image(folder, publisher,
                                                       tmp_path):
    (folder / 'SHA256SUMS').write_bytes(SUMS)
    (folder / 'SHA256SUMS.gpg').write_bytes(publisher.detached(SUMS))
    keys = publisher.export(str(tmp_path / 'keys'))

    with FileServer(folder, listing=True) as server:
        found = establish(server, keys)

    assert (found.checksum_from, found.expected.hexdigest,
            found.verification, found.fingerprint, found.signer) == (
        provenance.FOUND, SHA256, signature.SIGNED, publisher.fingerprint,
        publisher.uid)
    assert found.checksum_url.endswith('/SHA256SUMS')


def test_only_the_signed_block_of_a_clearsigned_file_counts(
        folder, publisher, tmp_path):
    # A line for the image put outside the signed block is not read.
    forged = b'%s *jammy.img\n' % (b'0' * 64)
    (folder / 'CHECKSUM').write_bytes(
        forged + publisher.clearsigned(b'%s *other.img\n' % (b'e' * 64)))
    keys = publisher.export(str(tmp_path / 'keys'))

    with FileServer(folder, listing=True) as server:
        with pytest.raises(ImportFailure) as failure:
            establish(server, keys)

    assert failure.value.code == 'checksum_not_listed'


def test_a_bad_signature_fails_before_the_download(folder, publisher,
                                                   tmp_path):
    (folder / 'SHA256SUMS').write_bytes(SUMS.replace(b'e', b'f'))
    (folder / 'SHA256SUMS.gpg').write_bytes(publisher.detached(SUMS))
    keys = publisher.export(str(tmp_path / 'keys'))

    with FileServer(folder, listing=True) as server:
        with pytest.raises(ImportFailure) as failure:
            establish(server, keys)
        asked = [r[1] for r in server.requests]

    assert failure.value.code == 'signature_bad'
    assert failure.value.params == {'file': 'SHA256SUMS',
                                    'signature': 'SHA256SUMS.gpg'}
    assert '/jammy.img' not in asked


def test_a_key_this_cloud_does_not_trust(folder, publisher):
    (folder / 'SHA256SUMS').write_bytes(SUMS)
    (folder / 'SHA256SUMS.gpg').write_bytes(publisher.detached(SUMS))

    with FileServer(folder, listing=True) as server:
        found = establish(server, keys=None)

    assert (found.verification, found.expected.hexdigest) == (
        signature.UNKNOWN_KEY, SHA256)


def test_an_unsigned_file_and_none_at_all(folder):
    with FileServer(folder, listing=True) as server:
        nothing = establish(server)
        (folder / 'SHA256SUMS').write_bytes(SUMS)
        unsigned = establish(server)

    assert (nothing.expected, nothing.checksum_from) == (None, '')
    assert 'SHA256SUMS' not in nothing.looked_for   # not listed: not asked
    assert (unsigned.verification, unsigned.expected.hexdigest) == (
        signature.UNSIGNED, SHA256)


@pytest.mark.parametrize('signed', [False, True])
def test_a_required_signature(folder, publisher, tmp_path, signed):
    (folder / 'SHA256SUMS').write_bytes(SUMS)
    if signed:
        (folder / 'SHA256SUMS.gpg').write_bytes(publisher.detached(SUMS))
    keys = publisher.export(str(tmp_path / 'keys'))

    with FileServer(folder, listing=True) as server:
        if signed:
            assert establish(server, keys, require=True).verification == (
                signature.SIGNED)
            return
        with pytest.raises(ImportFailure) as failure:
            establish(server, keys, require=True)

    assert failure.value.code == 'signature_required'
    assert failure.value.params['outcome'] == 'unsigned'


def test_the_users_checksum_file_is_verified_too(folder, publisher,
                                                 tmp_path):
    (folder / 'sums.txt').write_bytes(SUMS)
    (folder / 'sums.txt.gpg').write_bytes(publisher.detached(SUMS))
    keys = publisher.export(str(tmp_path / 'keys'))

    with FileServer(folder) as server:
        found = establish(server, keys, checksum_url=server.url('sums.txt'))

    assert (found.checksum_from, found.verification) == (
        provenance.FROM_FILE, signature.SIGNED)


def test_a_typed_checksum_wins_and_nothing_is_looked_for(folder):
    with FileServer(folder, listing=True) as server:
        found = establish(server, expected_checksum='sha256:' + SHA256)
        asked = list(server.requests)

    assert (found.checksum_from, found.verification) == (
        provenance.FROM_USER, '')
    assert asked == []


@pytest.mark.parametrize('require', [False, True])
def test_not_looking_is_recorded_and_asks_nothing(folder, require):
    (folder / 'SHA256SUMS').write_bytes(SUMS)
    with FileServer(folder, listing=True) as server:
        fetcher = fetch.Fetcher(fetch.UrlPolicy(
            allow=('127.0.0.1:%d' % server.port,)))
        policy = provenance.Policy(find=False, require_signature=require)
        try:
            found = provenance.establish(fetcher, server.url('jammy.img'),
                                         None, policy=policy)
        except ImportFailure as exc:
            found = exc
        asked = list(server.requests)

    assert asked == []
    if require:
        assert (found.code, found.params['outcome']) == (
            'signature_required', 'none')
    else:
        assert (found.expected, found.checksum_from) == (
            None, provenance.NOT_SOUGHT)
        assert provenance.properties(
            found, 'https://h/jammy.img', '', 'qcow2', 'qcow2')[
            'image_importer_checksum_from'] == 'not_sought'


def test_provenance_properties_keep_secrets_out():
    origin = provenance.Provenance(
        provenance.checksum.Expected('sha256', SHA256), provenance.FOUND,
        'https://mirror.example.org/SHA256SUMS?token=secret',
        signature.SIGNED, 'ABCD', 'Cloud Images <images@example.org>')

    found = provenance.properties(
        origin, 'https://u:pw@mirror.example.org:8443/a/jammy.img?sig=x#y',
        '2026-12-07T10:00:00+00:00', 'qcow2', 'raw', 'xz', None)

    assert found == {
        'image_importer_source_url':
            'https://mirror.example.org:8443/a/jammy.img',
        'image_importer_fetched_at': '2026-12-07T10:00:00+00:00',
        'image_importer_source_checksum': 'sha256:' + SHA256,
        'image_importer_checksum_from': 'found',
        'image_importer_checksum_file':
            'https://mirror.example.org/SHA256SUMS',
        'image_importer_verification': 'signed',
        'image_importer_signing_key': 'ABCD',
        'image_importer_signer': 'Cloud Images <images@example.org>',
        'image_importer_source_format': 'qcow2',
        'image_importer_compression': 'xz',
        'image_importer_conversion': 'qcow2 to raw',
    }
    assert set(found) <= {provenance.PREFIX + name
                          for name in provenance.PROPERTY_NAMES}
