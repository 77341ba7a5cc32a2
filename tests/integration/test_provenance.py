"""Checksum files found by themselves, signatures verified, provenance on
the image: each publisher's layout served by the test file server, keys
made here, imported through the real worker code into the real Glance."""

import hashlib
import lzma
import os

import pytest

from tests.integration.test_import_real_stack import images_named
from tests.integration.test_import_real_stack import run_to_active
from tests.integration.test_import_real_stack import run_to_failure
from tests.integration.test_import_real_stack import submit
from tools.fileserver import Fault
from tools.fileserver import FileServer
from tools import images
from tools import publishers

pytestmark = [pytest.mark.realstack, pytest.mark.django_db]


@pytest.fixture(scope='module')
def qcow2(tmp_path_factory):
    """A small qcow2's bytes."""
    folder = tmp_path_factory.mktemp('qcow2')
    path, _data = images.make_qcow2(str(folder), 'disk.qcow2')
    with open(path, 'rb') as f:
        return f.read()


@pytest.fixture
def mirror(tmp_path, importer_settings, publisher):
    """A mirror with folder listings, and this cloud trusting
    ``publisher``'s key."""
    root = tmp_path / 'mirror'
    root.mkdir()
    with FileServer(root, listing=True) as server:
        importer_settings.update(
            URL_ALLOWLIST=['127.0.0.1:%d' % server.port],
            TRUSTED_KEYS_DIR=publisher.export(str(tmp_path / 'keys'),
                                              armor=True))
        yield server


def published(mirror, name, qcow2, signer, **kwargs):
    layout = publishers.LAYOUTS[name]
    data = lzma.compress(qcow2) if layout.image.endswith('.xz') else qcow2
    publishers.publish(str(mirror.root / name), layout, data, signer,
                       **kwargs)
    return layout, mirror.url('%s/%s' % (name, layout.image)), data


def properties_of(glance, job):
    image = glance.images.get(job.image_id)
    return {key: value for key, value in image.items()
            if key.startswith('image_importer_')}


@pytest.mark.parametrize('signs', [True, False], ids=['signed', 'unsigned'])
@pytest.mark.parametrize('name', sorted(publishers.LAYOUTS))
def test_each_layout_is_found_verified_and_recorded(
        stack, demo_session, demo_glance, mirror, publisher, qcow2, name,
        signs):
    layout, url, data = published(mirror, name, qcow2,
                                  publisher if signs else None)

    job = run_to_active(submit(demo_session, stack, url))

    signed = signs and layout.signature is not None
    assert job.provenance['checksum_from'] == 'found'
    assert job.provenance['verification'] == ('signed' if signed
                                              else 'unsigned')
    assert job.checksum_verified == layout.algorithm
    found = properties_of(demo_glance, job)
    demo_glance.images.delete(job.image_id)
    digest = hashlib.new(layout.algorithm, data,
                         usedforsecurity=False).hexdigest()
    assert found['image_importer_source_checksum'] == '%s:%s' % (
        layout.algorithm, digest)
    assert found['image_importer_checksum_file'] == mirror.url(
        '%s/%s' % (name, layout.checksum_name))
    assert found['image_importer_source_url'] == url
    assert found['image_importer_source_format'] == 'qcow2'
    assert found['image_importer_conversion'] == 'none'
    assert found.get('image_importer_compression', '') == (
        'xz' if layout.image.endswith('.xz') else '')
    if signed:
        assert (found['image_importer_verification'],
                found['image_importer_signing_key'],
                found['image_importer_signer']) == (
            'signed', publisher.fingerprint, publisher.uid)
    else:
        assert found['image_importer_verification'] == 'unsigned'


def test_a_bad_signature_fails_before_the_download(
        stack, demo_session, demo_glance, mirror, publisher, qcow2):
    layout, url, _data = published(mirror, 'ubuntu', qcow2, publisher)
    sums = mirror.root / 'ubuntu' / layout.checksum_name
    sums.write_bytes(sums.read_bytes().replace(b'*other', b'*forged'))

    job = run_to_failure(submit(demo_session, stack, url), 'signature_bad')

    assert not any(r[1].endswith(layout.image) for r in mirror.requests)
    assert images_named(demo_glance, job.image_name) == []


def test_a_signature_by_an_unknown_key_still_checks_the_checksum(
        stack, demo_session, demo_glance, mirror, stranger, qcow2):
    _layout, url, _data = published(mirror, 'debian', qcow2, stranger)

    job = run_to_active(submit(demo_session, stack, url))
    demo_glance.images.delete(job.image_id)

    assert (job.provenance['verification'], job.checksum_verified) == (
        'unknown_key', 'sha512')


def test_a_wrong_line_fails_as_a_checksum_mismatch(
        stack, demo_session, demo_glance, mirror, publisher, qcow2):
    _layout, url, _data = published(mirror, 'fedora', qcow2, publisher,
                                    hexdigest='0' * 64)

    job = run_to_failure(submit(demo_session, stack, url),
                         'checksum_mismatch')

    assert job.provenance['verification'] == 'signed'
    assert images_named(demo_glance, job.image_name) == []


def test_no_checksum_file_is_said_and_the_import_goes_on(
        stack, demo_session, demo_glance, mirror, qcow2):
    (mirror.root / 'plain').mkdir()
    (mirror.root / 'plain' / 'disk.qcow2').write_bytes(qcow2)

    job = run_to_active(submit(demo_session, stack,
                               mirror.url('plain/disk.qcow2')))
    found = properties_of(demo_glance, job)
    demo_glance.images.delete(job.image_id)

    assert (job.provenance['checksum_from'], job.checksum_verified) == (
        '', '')
    assert (found['image_importer_verification'],
            found['image_importer_checksum_from']) == ('none', 'none')


@pytest.mark.parametrize('fault', ['too_large', 'redirect_refused'])
def test_a_checksum_file_that_cannot_be_used_is_passed_over(
        stack, demo_session, demo_glance, mirror, publisher, qcow2, fault):
    layout, url, _data = published(mirror, 'ubuntu', qcow2, publisher)
    sums = mirror.root / 'ubuntu' / layout.checksum_name
    if fault == 'too_large':
        sums.write_bytes(sums.read_bytes() + b'# padding\n' * 200000)
    else:
        mirror.faults['/ubuntu/' + layout.checksum_name] = Fault(
            redirect='http://169.254.169.254/SHA256SUMS')

    job = run_to_active(submit(demo_session, stack, url))
    demo_glance.images.delete(job.image_id)

    assert (job.provenance['checksum_from'], job.checksum_verified) == (
        '', '')


def test_a_required_signature_refuses_an_unsigned_source(
        stack, demo_session, demo_glance, mirror, qcow2, importer_settings):
    _layout, url, _data = published(mirror, 'arch', qcow2, None)
    importer_settings['REQUIRE_SIGNATURE'] = ['127.0.0.1']

    job = run_to_failure(submit(demo_session, stack, url),
                         'signature_required')

    assert images_named(demo_glance, job.image_name) == []


def test_finding_can_be_turned_off(stack, demo_session, demo_glance, mirror,
                                   publisher, qcow2, importer_settings):
    _layout, url, _data = published(mirror, 'ubuntu', qcow2, publisher)
    importer_settings['FIND_CHECKSUMS'] = False

    job = run_to_active(submit(demo_session, stack, url))
    demo_glance.images.delete(job.image_id)

    assert job.checksum_verified == ''
    assert [os.path.basename(r[1]) for r in mirror.requests] == [
        os.path.basename(url)]


def test_the_user_may_import_without_the_published_checksum(
        stack, demo_session, demo_glance, mirror, publisher, qcow2):
    _layout, url, _data = published(mirror, 'ubuntu', qcow2, publisher)

    job = run_to_active(submit(demo_session, stack, url,
                               find_checksum=False))
    found = properties_of(demo_glance, job)
    demo_glance.images.delete(job.image_id)

    assert (job.provenance['checksum_from'], job.checksum_verified) == (
        'not_sought', '')
    assert (found['image_importer_checksum_from'],
            found['image_importer_verification']) == ('not_sought', 'none')
    assert [os.path.basename(r[1]) for r in mirror.requests] == [
        os.path.basename(url)]


def test_glance_finds_the_images_made_from_the_same_file(
        stack, demo_session, demo_glance, mirror, publisher, qcow2):
    # What Check URL and the job page ask Glance (api.glance): images by
    # their source checksum property, and by the hash of their bytes.
    _layout, url, data = published(mirror, 'debian', qcow2, publisher)
    first = run_to_active(submit(demo_session, stack, url))
    second = run_to_active(submit(demo_session, stack, url,
                                  image_name='the same again'))
    source = 'sha512:' + hashlib.sha512(data).hexdigest()
    try:
        by_source = demo_glance.images.list(filters={
            'image_importer_source_checksum': source, 'status': 'active'})
        by_hash = demo_glance.images.list(filters={
            'os_hash_value': hashlib.sha512(data).hexdigest(),
            'status': 'active'})
        assert sorted(i.id for i in by_source) == sorted(
            [first.image_id, second.image_id])
        assert sorted(i.id for i in by_hash) == sorted(
            [first.image_id, second.image_id])
        assert list(demo_glance.images.list(filters={
            'image_importer_source_checksum': 'sha512:' + '0' * 128})) == []
    finally:
        for job in (first, second):
            demo_glance.images.delete(job.image_id)
