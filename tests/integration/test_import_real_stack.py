"""Imports through the real worker code against a real Keystone + Glance.

The job runs exactly as the Celery task runs it (``runner.run_job``), with
the demo user's real token, a real loopback HTTP server and real qemu-img.
"""

import os

import pytest

from image_importer import crypto
from image_importer import failures
from image_importer import runner
from image_importer.models import ImportJob
from tools import images

pytestmark = [pytest.mark.realstack, pytest.mark.django_db]


def submit(demo_session, stack, url, **fields):
    token = demo_session.get_token()
    access = demo_session.auth.get_access(demo_session)
    values = dict(project_id=access.project_id, user_id=access.user_id,
                  user_name='demo', source_url=url,
                  image_name='hii-test-%s' % os.path.basename(url),
                  glance_endpoint=stack.glance_url,
                  auth_token=crypto.encrypt(token),
                  token_expires=access.expires)
    values.update(fields)
    return ImportJob.objects.create(**values)


def glance_raw_bytes(glance, image, tmp_path):
    path = str(tmp_path / 'from-glance')
    with open(path, 'wb') as f:
        for chunk in glance.images.data(image.id):
            f.write(chunk)
    return images.to_raw_bytes(path, image.disk_format)


def images_named(glance, name):
    return [i for i in glance.images.list() if i.name == name]


@pytest.mark.parametrize('wanted, expected_format', [
    ('', 'qcow2'),       # Automatic keeps the detected format
    ('raw', 'raw'),      # an explicit format converts
])
def test_qcow2_import_ends_active_with_identical_bytes(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        tmp_path, wanted, expected_format):
    _path, original = images.make_qcow2(str(sample_server.root),
                                        'cirros-%s.qcow2' % expected_format)
    job = submit(demo_session, stack,
                 sample_server.url('cirros-%s.qcow2' % expected_format),
                 disk_format=wanted, min_disk=1, min_ram=64,
                 architecture='x86_64')

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert job.state == ImportJob.ACTIVE, failures.describe(
        job.error_code, job.error_params)
    image = demo_glance.images.get(job.image_id)
    assert image.status == 'active'
    assert image.disk_format == expected_format
    assert image.container_format == 'bare'
    assert (image.min_disk, image.min_ram) == (1, 64)
    assert image.architecture == 'x86_64'
    assert image.visibility == 'private'
    assert job.source_format == 'qcow2'
    assert job.virtual_size == len(original)
    assert glance_raw_bytes(demo_glance, image, tmp_path) == original
    assert job.auth_token == ''
    assert os.listdir(importer_settings['WORK_DIR']) == []
    demo_glance.images.delete(image.id)


def test_404_fails_with_the_status_and_leaves_no_image(
        stack, demo_session, demo_glance, sample_server, importer_settings):
    job = submit(demo_session, stack, sample_server.url('nothing-here.qcow2'))

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert job.state == ImportJob.FAILED
    assert 'The server answered 404' in failures.describe(
        job.error_code, job.error_params)
    assert images_named(demo_glance, job.image_name) == []
    assert os.listdir(importer_settings['WORK_DIR']) == []


def test_backing_file_is_refused_and_leaves_no_image(
        stack, demo_session, demo_glance, sample_server, importer_settings):
    images.make_qcow2_with_backing_file(str(sample_server.root),
                                        'overlay.qcow2')
    job = submit(demo_session, stack, sample_server.url('overlay.qcow2'))

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert job.state == ImportJob.FAILED
    message = failures.describe(job.error_code, job.error_params)
    assert 'qcow2 with a backing file, which is refused for safety' in message
    assert job.image_id == ''
    assert images_named(demo_glance, job.image_name) == []
    assert os.listdir(importer_settings['WORK_DIR']) == []


def test_internal_address_is_refused(
        stack, demo_session, demo_glance, importer_settings):
    job = submit(demo_session, stack, stack.glance_url + '/v2/images')

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert job.state == ImportJob.FAILED
    assert job.error_code == 'address_not_allowed'
