"""Small inputs that must not cost the worker, Glance or the dashboard
dearly, run as the worker runs them against the real Keystone + Glance."""

import pytest
import zstandard

from image_importer import conf
from image_importer import failures
from tests.integration.test_import_real_stack import images_named
from tests.integration.test_import_real_stack import run_to_failure
from tests.integration.test_import_real_stack import submit
from tools import images

pytestmark = [pytest.mark.realstack, pytest.mark.django_db]

GiB = 1024 ** 3
TiB = 1024 ** 4


@pytest.mark.parametrize('overlap', [True, False])
def test_a_tiny_qcow2_of_a_huge_disk_is_not_made_raw(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        overlap):
    # A few hundred kilobytes that would be 1 TiB of zeros once raw.
    importer_settings['OVERLAP_UPLOAD'] = overlap
    images.make_sparse_qcow2(str(sample_server.root), 'tib.qcow2', TiB,
                             data=64 * 1024)
    job = submit(demo_session, stack, sample_server.url('tib.qcow2'),
                 disk_format='raw')

    run_to_failure(job, 'output_too_large')
    assert job.error_params == {
        'size': TiB, 'limit': conf.get('MAX_IMAGE_SIZE'),
        'format': 'raw', 'source': 'qcow2'}
    # Refused before a byte went to Glance: no image was ever made.
    assert job.image_id == ''
    assert images_named(demo_glance, job.image_name) == []
    assert failures.describe(job.error_code, job.error_params) == (
        'Converted to raw, this image would be 1.0\xa0TB, more than the '
        '64.0\xa0GB this cloud accepts, so nothing was sent to the Image '
        'service. Keep it as qcow2 (choose Automatic as the format): it '
        'stores only the part of the disk in use.')


def test_a_zstd_bomb_fails_as_a_bomb_not_as_a_network_fault(
        stack, demo_session, demo_glance, sample_server, importer_settings):
    # 2 TiB of zeros in 1 GiB zstd frames: a 64 MiB file.
    frame = zstandard.ZstdCompressor().compress(bytes(GiB))
    with open(sample_server.root / 'bomb.raw.zst', 'wb') as f:
        for _ in range(2048):
            f.write(frame)
    job = submit(demo_session, stack, sample_server.url('bomb.raw.zst'))

    run_to_failure(job, 'decompression_bomb')
    # What the streamed upload had begun is deleted.
    assert images_named(demo_glance, job.image_name) == []
