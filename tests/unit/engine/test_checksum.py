"""Expected checksums, checksum files, hashing and verification."""

import hashlib
import json

import pytest

from image_importer.engine import checksum
from image_importer.engine.checksum import Expected
from image_importer.engine.errors import ImportFailure


def digest(algorithm, data):
    return hashlib.new(algorithm, data).hexdigest()


def fails(code, call, *args, **kwargs):
    with pytest.raises(ImportFailure) as exc:
        call(*args, **kwargs)
    assert exc.value.code == code
    json.dumps(exc.value.params)
    return exc.value.params


SHA256 = digest('sha256', b'image')
SHA512 = digest('sha512', b'image')
MD5 = digest('md5', b'image')


# -- parse_expected --------------------------------------------------------

@pytest.mark.parametrize('algorithm', checksum.ALGORITHMS)
def test_bare_hex_infers_the_algorithm_from_its_length(algorithm):
    hexdigest = digest(algorithm, b'x')

    assert (checksum.parse_expected(hexdigest) ==
            Expected(algorithm, hexdigest))


@pytest.mark.parametrize('algorithm', checksum.ALGORITHMS)
def test_bare_hex_with_an_explicit_algorithm(algorithm):
    hexdigest = digest(algorithm, b'x')

    assert (checksum.parse_expected(hexdigest, algorithm) ==
            Expected(algorithm, hexdigest))


@pytest.mark.parametrize('algorithm', checksum.ALGORITHMS)
@pytest.mark.parametrize('form', [
    '{lower}:{hex}', '{upper}:{hex}', '{{{upper}}}{hex}', '{{{lower}}}{hex}',
], ids=['lower-prefix', 'upper-prefix', 'upper-braces', 'lower-braces'])
def test_prefixed_forms_name_the_algorithm(algorithm, form):
    hexdigest = digest(algorithm, b'x')
    text = form.format(lower=algorithm, upper=algorithm.upper(),
                       hex=hexdigest)

    assert checksum.parse_expected(text) == Expected(algorithm, hexdigest)


@pytest.mark.parametrize('text', [
    'SHA256:' + SHA256,
    '{SHA256}' + SHA256,
    'sha-256:' + SHA256,
    'SHA2-256:' + SHA256,
    'sha256: ' + SHA256,
    '  %s \n' % SHA256,
    '\t{sha256}%s\r\n' % SHA256,
    SHA256.upper(),
    'SHA256:' + SHA256.upper(),
], ids=['upper-prefix', 'braces', 'dashed-name', 'sha2-name',
        'space-after-colon', 'surrounding-space', 'braces-with-tab-crlf',
        'upper-hex', 'upper-prefix-and-hex'])
def test_expected_variants_read_as_lower_case_sha256(text):
    assert checksum.parse_expected(text) == Expected('sha256', SHA256)


def test_prefix_agreeing_with_the_explicit_algorithm():
    assert (checksum.parse_expected('sha512:' + SHA512, 'sha512') ==
            Expected('sha512', SHA512))


def test_explicit_algorithm_may_be_spelt_in_upper_case():
    assert checksum.parse_expected(MD5, 'MD5') == Expected('md5', MD5)


@pytest.mark.parametrize('text, algorithm', [
    (SHA256[:-1], None),
    (SHA256 + '0', None),
    ('0' * 20, None),
    ('g' * 64, None),
    (SHA256[:-1] + 'z', None),
    ('0x' + SHA256[2:], None),
    ('', None),
    ('   ', None),
    ('sha256:', None),
    ('sha3-256:' + SHA256, None),
    ('blake2b:' + SHA512, None),
    ('crc32:0a1b2c3d', None),
    ('sha1:' + SHA256, None),
    ('{md5}' + SHA256, None),
    ('sha256 ' + SHA256, None),
    ('%s  image.qcow2' % SHA256, None),
    ('%s %s' % (SHA256[:32], SHA256[32:]), None),
    (SHA256, 'sha512'),
    (MD5, 'sha1'),
    ('md5:' + MD5, 'sha256'),
], ids=['too-short', 'too-long', 'unknown-length', 'not-hex',
        'one-non-hex-digit', 'hex-prefix', 'empty', 'blank',
        'prefix-without-hex', 'sha3-prefix', 'blake2-prefix',
        'crc-prefix', 'prefix-length-mismatch', 'braces-length-mismatch',
        'space-instead-of-colon', 'pasted-checksum-file-line',
        'space-inside', 'explicit-length-mismatch',
        'explicit-md5-length-as-sha1', 'prefix-contradicts-explicit'])
def test_invalid_expected_checksum(text, algorithm):
    params = fails('checksum_invalid', checksum.parse_expected, text,
                   algorithm)

    assert params == {'value': text.strip()}


def test_invalid_value_is_truncated_to_200_characters():
    params = fails('checksum_invalid', checksum.parse_expected, 'x' * 5000)

    assert params == {'value': 'x' * 200}


def test_unknown_explicit_algorithm_is_a_programming_error():
    with pytest.raises(ValueError):
        checksum.parse_expected(SHA256, 'sha3_256')


# -- parse_checksum_file ---------------------------------------------------

UBUNTU_NAMES = [
    'jammy-server-cloudimg-amd64-azure.vhd.tar.gz',
    'jammy-server-cloudimg-amd64-disk-kvm.img',
    'jammy-server-cloudimg-amd64-root.tar.xz',
    'jammy-server-cloudimg-amd64.img',
    'jammy-server-cloudimg-amd64.ova',
    'jammy-server-cloudimg-amd64.squashfs',
    'jammy-server-cloudimg-amd64.vmdk',
    'jammy-server-cloudimg-arm64.img',
    'jammy-server-cloudimg-ppc64el.img',
]
UBUNTU_SHA256SUMS = ''.join('%s *%s\n' % (digest('sha256', n.encode()), n)
                            for n in UBUNTU_NAMES)

FEDORA_IMAGE = 'Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2'
FEDORA_CHECKSUM = """\
-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

# Fedora-Cloud-Base-AmazonEC2-41-1.4.x86_64.raw.xz: 382312448 bytes
SHA256 (Fedora-Cloud-Base-AmazonEC2-41-1.4.x86_64.raw.xz) = %s
# Fedora-Cloud-Base-Azure-41-1.4.x86_64.vhdfixed.xz: 489824880 bytes
SHA256 (Fedora-Cloud-Base-Azure-41-1.4.x86_64.vhdfixed.xz) = %s
# Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2: 491716608 bytes
SHA256 (Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2) = %s
-----BEGIN PGP SIGNATURE-----

iQIzBAEBCAAdFiEEZ8E8IIXgVhMDaLVdNAPDmtxnYHwFAmcmNDcACgkQNAPDmtxn
%s
=q8Yz
-----END PGP SIGNATURE-----
""" % (digest('sha256', b'ec2'), digest('sha256', b'azure'), SHA256,
       digest('sha256', b'signature bytes that look like hex'))


def test_ubuntu_sha256sums_picks_the_exact_file_name():
    for name in UBUNTU_NAMES:
        assert (checksum.parse_checksum_file(UBUNTU_SHA256SUMS, name) ==
                Expected('sha256', digest('sha256', name.encode())))


def test_ubuntu_sha256sums_compares_the_url_base_name():
    name = 'jammy-server-cloudimg-amd64.img'
    url_path = 'releases/jammy/release-20241217/' + name

    assert (checksum.parse_checksum_file(UBUNTU_SHA256SUMS, url_path) ==
            Expected('sha256', digest('sha256', name.encode())))


def test_fedora_checksum_with_pgp_armour_and_bsd_lines():
    assert (checksum.parse_checksum_file(FEDORA_CHECKSUM, FEDORA_IMAGE) ==
            Expected('sha256', SHA256))


def test_fedora_signature_block_is_never_read_as_a_checksum():
    signature = digest('sha256', b'signature bytes that look like hex')
    text = FEDORA_CHECKSUM.replace(
        'SHA256 (%s) = %s\n' % (FEDORA_IMAGE, SHA256), '')

    params = fails('checksum_not_listed', checksum.parse_checksum_file,
                   text, FEDORA_IMAGE)

    assert params == {'filename': FEDORA_IMAGE}
    assert signature in text


@pytest.mark.parametrize('line, algorithm, hexdigest', [
    ('%s  image.qcow2' % SHA256, 'sha256', SHA256),
    ('%s *image.qcow2' % SHA256, 'sha256', SHA256),
    ('%s image.qcow2' % SHA256, 'sha256', SHA256),
    ('%s\timage.qcow2' % SHA256, 'sha256', SHA256),
    ('%s  ./image.qcow2' % SHA256, 'sha256', SHA256),
    ('%s *./image.qcow2' % SHA256, 'sha256', SHA256),
    ('%s  out/x86_64/image.qcow2' % SHA256, 'sha256', SHA256),
    ('%s  image.qcow2' % SHA256.upper(), 'sha256', SHA256),
    ('%s  image.qcow2' % MD5, 'md5', MD5),
    ('%s  image.qcow2' % SHA512, 'sha512', SHA512),
    ('SHA256 (image.qcow2) = %s' % SHA256, 'sha256', SHA256),
    ('SHA512 (image.qcow2) = %s' % SHA512, 'sha512', SHA512),
    ('MD5 (image.qcow2) = %s' % MD5, 'md5', MD5),
    ('SHA1 (./image.qcow2) = %s' % digest('sha1', b'image'), 'sha1',
     digest('sha1', b'image')),
    ('SHA2-256(image.qcow2)= %s' % SHA256, 'sha256', SHA256),
    ('sha384 (image.qcow2) = %s' % digest('sha384', b'image'), 'sha384',
     digest('sha384', b'image')),
    ('SHA224 (image.qcow2) = %s' % digest('sha224', b'image'), 'sha224',
     digest('sha224', b'image')),
], ids=['gnu-text', 'gnu-binary', 'single-space', 'tab', 'gnu-dot-slash',
        'gnu-binary-dot-slash', 'gnu-directory', 'gnu-upper-hex', 'gnu-md5',
        'gnu-sha512', 'bsd-sha256', 'bsd-sha512', 'bsd-md5',
        'bsd-dot-slash', 'openssl-dgst', 'bsd-lower-tag', 'bsd-sha224'])
def test_checksum_file_line_styles(line, algorithm, hexdigest):
    text = '%s  other.qcow2\n%s\n' % (digest('sha256', b'other'), line)

    assert (checksum.parse_checksum_file(text, 'image.qcow2') ==
            Expected(algorithm, hexdigest))


@pytest.mark.parametrize('text', [
    SHA256,
    SHA256 + '\n',
    '\n\n  %s  \n\n' % SHA256,
    '%s  -\n' % SHA256,
    '\ufeff%s\r\n' % SHA256,
], ids=['bare', 'bare-newline', 'bare-padded', 'from-stdin', 'bom-crlf'])
def test_bare_sha256_file_counts_for_any_file(text):
    assert (checksum.parse_checksum_file(text, 'anything.img') ==
            Expected('sha256', SHA256))


def test_bare_sha256_file_followed_by_the_name():
    text = '%s  noble-server-cloudimg-amd64.img\n' % SHA256

    assert (checksum.parse_checksum_file(
        text, 'noble-server-cloudimg-amd64.img') == Expected('sha256', SHA256))


def test_bare_file_naming_another_image_does_not_match():
    text = '%s  noble-server-cloudimg-amd64.img\n' % SHA256

    params = fails('checksum_not_listed', checksum.parse_checksum_file,
                   text, 'noble-server-cloudimg-arm64.img')

    assert params == {'filename': 'noble-server-cloudimg-arm64.img'}


def test_sha512_file_with_explicit_algorithm():
    assert (checksum.parse_checksum_file(SHA512 + '\n', 'x.img', 'sha512') ==
            Expected('sha512', SHA512))


def test_crlf_line_endings_and_comments():
    text = '# built 2024-12-17\r\n\r\n%s *image.raw\r\n' % SHA256

    assert (checksum.parse_checksum_file(text, 'image.raw') ==
            Expected('sha256', SHA256))


def test_url_quoted_file_name_matches_the_listed_name():
    text = '%s  my image.qcow2\n' % SHA256

    assert (checksum.parse_checksum_file(text, 'my%20image.qcow2') ==
            Expected('sha256', SHA256))


def test_strongest_algorithm_wins_when_several_are_listed():
    text = ('MD5 (image.img) = %s\nSHA512 (image.img) = %s\n'
            'SHA256 (image.img) = %s\n' % (MD5, SHA512, SHA256))

    assert (checksum.parse_checksum_file(text, 'image.img') ==
            Expected('sha512', SHA512))


def test_explicit_algorithm_picks_its_own_line():
    text = ('MD5 (image.img) = %s\nSHA512 (image.img) = %s\n'
            'SHA256 (image.img) = %s\n' % (MD5, SHA512, SHA256))

    assert (checksum.parse_checksum_file(text, 'image.img', 'sha256') ==
            Expected('sha256', SHA256))


def test_explicit_algorithm_missing_from_the_file_is_not_listed():
    params = fails('checksum_not_listed', checksum.parse_checksum_file,
                   UBUNTU_SHA256SUMS, 'jammy-server-cloudimg-amd64.img',
                   'sha512')

    assert params == {'filename': 'jammy-server-cloudimg-amd64.img'}


@pytest.mark.parametrize('filename', [
    'jammy-server-cloudimg-amd64',
    'server-cloudimg-amd64.img',
    'JAMMY-SERVER-CLOUDIMG-AMD64.IMG',
    'noble-server-cloudimg-amd64.img',
    '',
], ids=['prefix-of-a-name', 'suffix-of-a-name', 'other-case',
        'other-release', 'no-file-name'])
def test_file_not_in_the_list(filename):
    params = fails('checksum_not_listed', checksum.parse_checksum_file,
                   UBUNTU_SHA256SUMS, filename)

    assert params == {'filename': filename}


@pytest.mark.parametrize('text', [
    '',
    '\n\n',
    '# no checksums here\n',
    '<!DOCTYPE html>\n<html><body><h1>404 Not Found</h1></body></html>\n',
    '%s  image.img\n' % SHA256[:-2],
    'BLAKE2b (image.img) = %s\n' % SHA512,
    'SHA256 (image.img) = %s\n' % MD5,
    '-----BEGIN PGP SIGNATURE-----\n\n%s\n-----END PGP SIGNATURE-----\n'
    % SHA256,
], ids=['empty', 'blank-lines', 'comment-only', 'html-page',
        'wrong-length', 'unsupported-algorithm', 'bsd-length-mismatch',
        'signature-only'])
def test_text_without_any_checksum_line(text):
    params = fails('checksum_file_invalid', checksum.parse_checksum_file,
                   text, 'image.img')

    assert params == {}


# -- Hasher and verify -----------------------------------------------------

DATA = bytes(range(256)) * 4099


def chunks(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_hasher_computes_two_algorithms_in_one_pass():
    hasher = checksum.Hasher(['sha256', 'md5'])
    for chunk in chunks(DATA, 65537):
        hasher.update(chunk)

    assert hasher.hexdigests() == {'sha256': digest('sha256', DATA),
                                   'md5': digest('md5', DATA)}


def test_hasher_computes_every_algorithm():
    hasher = checksum.Hasher(checksum.ALGORITHMS)
    for chunk in chunks(DATA, 4096):
        hasher.update(memoryview(chunk))

    assert hasher.hexdigests() == {a: digest(a, DATA)
                                   for a in checksum.ALGORITHMS}


def test_hasher_of_nothing():
    assert (checksum.Hasher(['sha1']).hexdigests() ==
            {'sha1': digest('sha1', b'')})


def test_verify_accepts_the_matching_digest():
    hasher = checksum.Hasher(['sha256', 'sha512'])
    hasher.update(b'image')

    checksum.verify(checksum.parse_expected('sha256:' + SHA256),
                    hasher.hexdigests())


def test_verify_refuses_a_mismatch():
    hasher = checksum.Hasher(['sha256'])
    hasher.update(b'imagE')

    params = fails('checksum_mismatch', checksum.verify,
                   Expected('sha256', SHA256), hasher.hexdigests())

    assert params == {'algorithm': 'sha256', 'expected': SHA256,
                      'actual': digest('sha256', b'imagE')}
