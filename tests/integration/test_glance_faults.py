"""Glance failing under a running job, on the real Glance 33.

The worker code runs in-process (``runner.run_job``) and reaches Glance
through ``tools.faultproxy``, which answers 503, cuts the connection or
changes a bit in the middle of the image upload; the size limit is the
real Glance's own ``image_size_cap`` (tests/conftest.py sets it for the
test stack).
"""

import hashlib

import pytest

from image_importer.engine.glance import UPLOAD_PIECE
from image_importer import failures
from image_importer.models import ImportJob
from image_importer.worker import runner
from tests.conftest import GLANCE_IMAGE_SIZE_CAP
from tests.integration.test_import_real_stack import images_named
from tests.integration.test_import_real_stack import routes
from tests.integration.test_import_real_stack import run_to_active
from tests.integration.test_import_real_stack import submit
from tools.faultproxy import FaultProxy
from tools import images

pytestmark = [pytest.mark.realstack, pytest.mark.django_db]

UPLOAD = rb'^PUT /v2/images/[0-9a-f-]+/file '


@pytest.fixture
def glance_proxy(stack):
    with FaultProxy(int(stack.glance_url.rsplit(':', 1)[1])) as proxy:
        yield proxy


@pytest.fixture
def quick_retries(importer_settings):
    importer_settings.update(UPLOAD_RETRIES=3, UPLOAD_RETRY_DELAY=0.2)


def import_through(proxy, demo_session, stack, sample_server, name,
                   **fields):
    images.make_qcow2(str(sample_server.root), name, size=32 * 1024 * 1024)
    job = submit(demo_session, stack, sample_server.url(name), **fields)
    ImportJob.objects.filter(pk=job.pk).update(glance_endpoint=proxy.url())
    job.refresh_from_db()
    return job


# Kept, the upload is fed the download; made raw, the conversion: either
# way a broken upload is sent again from a file.
@pytest.mark.parametrize('disk_format', ['', 'raw'])
@pytest.mark.parametrize('action', ['503', 'reset'])
def test_upload_is_tried_again_and_leaves_one_image(
        stack, demo_session, demo_glance, sample_server, quick_retries,
        glance_proxy, action, disk_format):
    job = import_through(glance_proxy, demo_session, stack, sample_server,
                         'glance-%s-%s.qcow2' % (action, disk_format),
                         disk_format=disk_format)
    glance_proxy.arm(UPLOAD, action, times=2, after=4 * 1024 * 1024)

    job = run_to_active(job)

    assert glance_proxy.faults_done == 2
    [image] = images_named(demo_glance, job.image_name)
    assert image.id == job.image_id and image.status == 'active'
    assert image.size == job.image_size
    assert image.disk_format == (disk_format or 'qcow2')
    demo_glance.images.delete(image.id)


def test_a_500_after_glance_stored_the_image_leaves_it_active(
        stack, demo_session, demo_glance, sample_server, quick_retries,
        glance_proxy):
    # Glance stored every byte, but the answer the worker got was a 500
    # (as when Glance fails on its last step): the image's state says it
    # is there; its hash is checked, nothing is sent twice, one image.
    job = import_through(glance_proxy, demo_session, stack, sample_server,
                         'glance-stored-500.qcow2')
    glance_proxy.arm(UPLOAD, 'stored-500')

    job = run_to_active(job)

    assert glance_proxy.faults_done == 1
    # Sent once: the download went to Glance as it came, never again to
    # a file.
    assert routes(job) == ['AS_DOWNLOADED']
    [image] = images_named(demo_glance, job.image_name)
    assert (image.id, image.status) == (job.image_id, 'active')
    assert image.os_hash_value == sha512_of(sample_server,
                                            'glance-stored-500.qcow2')
    demo_glance.images.delete(image.id)


def chunk_sizes(recorded):
    """The HTTP chunk sizes of the first request in ``recorded``."""
    data = bytes(recorded)
    head, _sep, body = data.partition(b'\r\n\r\n')
    assert b'transfer-encoding: chunked' in head.lower()
    sizes, at = [], 0
    while True:
        end = body.index(b'\r\n', at)
        size = int(body[at:end].split(b';')[0], 16)
        if size == 0:
            return sizes
        sizes.append(size)
        at = end + 2 + size + 2


# Glance under gunicorn takes 1 MiB chunks with a fresh allocation each
# (engine.glance.UPLOAD_PIECE): every kind of upload sends small ones.
@pytest.mark.parametrize('disk_format,overlap', [
    ('', True), ('raw', True), ('', False), ('raw', False)])
def test_glance_receives_the_image_in_small_chunks(
        stack, demo_session, demo_glance, sample_server, glance_proxy,
        importer_settings, disk_format, overlap):
    importer_settings.update(OVERLAP_UPLOAD=overlap)
    job = import_through(glance_proxy, demo_session, stack, sample_server,
                         'chunks-%s-%s.qcow2' % (disk_format, overlap),
                         disk_format=disk_format)
    glance_proxy.arm(UPLOAD, 'record')

    job = run_to_active(job)

    sizes = chunk_sizes(glance_proxy.recorded)
    assert sum(sizes) == job.image_size
    # 64-256 KiB cost Glance almost no page faults, 1 MiB millions.
    assert max(sizes) == UPLOAD_PIECE <= 256 * 1024
    demo_glance.images.delete(job.image_id)


# The end-to-end check: Glance's os_hash_value against the hash of what
# the worker sent; one bit changed on the way fails the job, whichever
# way the upload was fed, and its image is deleted.
# With the user's sha512, a kept image is compared by the download's own
# hash (the same bytes, hashed once).
@pytest.mark.parametrize('disk_format,overlap,checked', [
    ('', True, False), ('', True, True), ('raw', True, False),
    ('', False, False)])
def test_a_bit_changed_on_the_way_to_glance_fails_the_job_and_no_image(
        stack, demo_session, demo_glance, sample_server, glance_proxy,
        importer_settings, disk_format, overlap, checked):
    importer_settings.update(OVERLAP_UPLOAD=overlap,
                             OVERLAP_VERIFIED_UPLOAD=overlap)
    name = 'flip-%s-%s-%s.qcow2' % (disk_format, overlap, checked)
    job = import_through(glance_proxy, demo_session, stack, sample_server,
                         name, disk_format=disk_format)
    if checked:
        job.expected_checksum = 'sha512:' + sha512_of(sample_server, name)
        job.save()
    glance_proxy.arm(UPLOAD, 'flip', after=4 * 1024 * 1024)

    runner.run_job(job.pk)

    job.refresh_from_db()
    message = failures.describe(job.error_code, job.error_params)
    assert glance_proxy.faults_done == 1
    assert job.state == ImportJob.FAILED, message
    assert job.error_code == 'glance_hash_mismatch', message
    assert job.error_params['stored'] != job.error_params['sent']
    assert 'the image was deleted' in message
    assert images_named(demo_glance, job.image_name) == []


def sha512_of(sample_server, name):
    with open(sample_server.root / name, 'rb') as served:
        return hashlib.sha512(served.read()).hexdigest()


def test_glance_down_for_longer_fails_with_a_message_and_no_image(
        stack, demo_session, demo_glance, sample_server, quick_retries,
        glance_proxy):
    job = import_through(glance_proxy, demo_session, stack, sample_server,
                         'glance-down.qcow2')
    glance_proxy.arm(UPLOAD, '503', times=10)

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert job.state == ImportJob.FAILED
    assert glance_proxy.faults_done == 4      # the first try and 3 more
    assert job.error_code == 'glance_error'
    assert '503' in failures.describe(job.error_code, job.error_params)
    assert images_named(demo_glance, job.image_name) == []


def test_an_image_over_glance_size_cap_fails_with_the_quota_message(
        stack, demo_session, demo_glance, sample_server, quick_retries):
    name = 'over-cap.qcow2'
    images.make_sparse_qcow2(str(sample_server.root), name,
                             GLANCE_IMAGE_SIZE_CAP + 64 * 1024 * 1024)
    job = submit(demo_session, stack, sample_server.url(name),
                 disk_format='raw')

    runner.run_job(job.pk)

    job.refresh_from_db()
    message = failures.describe(job.error_code, job.error_params)
    assert job.state == ImportJob.FAILED, message
    assert job.error_code == 'glance_too_large', message
    assert 'raise the limit' in message
    assert images_named(demo_glance, job.image_name) == []
