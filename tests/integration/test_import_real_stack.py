"""Imports through the real worker code against a real Keystone + Glance.

The job runs exactly as the Celery task runs it (``runner.run_job``), with
the demo user's real token, a real loopback HTTP server and real qemu-img.
"""

import datetime
import hashlib
import logging
import os
import subprocess
import tarfile
import threading
import time

from glanceclient import exc as glance_exc
import pytest

from image_importer import crypto
from image_importer.engine import glance
from image_importer.engine import pipeline
from image_importer.engine import qcow2
from image_importer import failures
from image_importer.models import ImportJob
from image_importer.worker import runner
from tools.fileserver import Fault
from tools.fileserver import FileServer
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


def routes(job):
    """The routes the job's timeline records, in order."""
    return [route for phase in job.phases
            for route in phase.get('routes', ())]


def run_to_active(job):
    """Run the job as the worker does; it must end active."""
    runner.run_job(job.pk)
    job.refresh_from_db()
    assert job.state == ImportJob.ACTIVE, failures.describe(
        job.error_code, job.error_params)
    return job


def run_to_failure(job, code):
    """Run the job as the worker does; it must fail with ``code``."""
    runner.run_job(job.pk)
    job.refresh_from_db()
    assert (job.state, job.error_code) == (ImportJob.FAILED, code), (
        failures.describe(job.error_code, job.error_params))
    return job


def assert_image_holds(glance, job, original, tmp_path):
    """The job's Glance image is active and its data, as raw, equals
    ``original``; then it is deleted."""
    image = glance.images.get(job.image_id)
    assert image.status == 'active'
    assert glance_raw_bytes(glance, image, tmp_path) == original
    glance.images.delete(image.id)
    return image


def job_folders(work_dir):
    """The jobs' folders in ``work_dir`` (not the downloads kept for a
    retry)."""
    return [name for name in os.listdir(work_dir) if name != 'partial']


def images_named(glance, name):
    return [i for i in glance.images.list() if i.name == name]


@pytest.mark.parametrize('wanted, expected_format', [
    ('', 'qcow2'),       # Automatic keeps the detected format
    ('raw', 'raw'),      # an explicit format converts
])
def test_qcow2_import_ends_active_with_identical_bytes(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        tmp_path, wanted, expected_format):
    path, original = images.make_qcow2(str(sample_server.root),
                                       'cirros-%s.qcow2' % expected_format)
    job = submit(demo_session, stack,
                 sample_server.url('cirros-%s.qcow2' % expected_format),
                 disk_format=wanted, min_disk=1, min_ram=64,
                 architecture='x86_64',
                 properties={'hw_disk_bus': 'virtio'})

    run_to_active(job)
    image = assert_image_holds(demo_glance, job, original, tmp_path)
    assert image.disk_format == expected_format
    assert image.container_format == 'bare'
    assert (image.min_disk, image.min_ram) == (1, 64)
    assert image.architecture == 'x86_64'
    assert image.hw_disk_bus == 'virtio'
    assert image.visibility == 'private'
    assert job.source_format == 'qcow2'
    assert job.virtual_size == len(original)
    assert job.auth_token == ''
    assert os.listdir(importer_settings['WORK_DIR']) == []
    if expected_format == 'qcow2':
        # Compared end to end by the worker: what Glance hashed is what
        # was served.
        with open(path, 'rb') as served:
            assert image.os_hash_value == hashlib.sha512(
                served.read()).hexdigest()


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
    # The job's folder is gone; what it downloaded stays for a retry.
    assert job_folders(importer_settings['WORK_DIR']) == []


def test_internal_address_is_refused(
        stack, demo_session, demo_glance, importer_settings):
    job = submit(demo_session, stack, stack.glance_url + '/v2/images')

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert job.state == ImportJob.FAILED
    assert job.error_code == 'address_not_allowed'


def compress(path, tool):
    subprocess.run([tool, '-k', '-f', path], check=True)
    return path + {'xz': '.xz', 'gzip': '.gz', 'bzip2': '.bz2',
                   'zstd': '.zst'}[tool]


def test_compressed_image_with_checksum_file_ends_active_verified(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        tmp_path):
    path, original = images.make_qcow2(str(sample_server.root), 'c.qcow2')
    packed = compress(path, 'xz')
    digest = hashlib.sha256(open(packed, 'rb').read()).hexdigest()
    (sample_server.root / 'SHA256SUMS').write_text(
        '%s *c.qcow2.xz\n%s *other.img\n' % (digest, '0' * 64))
    job = submit(demo_session, stack, sample_server.url('c.qcow2.xz'),
                 checksum_url=sample_server.url('SHA256SUMS'),
                 disk_format='raw')

    run_to_active(job)
    assert (job.compression, job.source_format, job.disk_format) == (
        'xz', 'qcow2', 'raw')
    assert job.checksum_verified == 'sha256'
    assert job.checksums['sha256'] == digest
    assert_image_holds(demo_glance, job, original, tmp_path)
    assert os.listdir(importer_settings['WORK_DIR']) == []


@pytest.mark.parametrize('overlap', [False, True],
                         ids=['default', 'OVERLAP_VERIFIED_UPLOAD'])
def test_checksum_mismatch_fails_and_no_image_stays(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        overlap):
    # By default an image checked against a checksum goes to Glance only
    # once its checksum matched. With OVERLAP_VERIFIED_UPLOAD its upload
    # runs during the download (large enough for that), holding back its
    # last bytes until the checksum is verified: the image is made, never
    # becomes active, and is deleted.
    importer_settings['OVERLAP_VERIFIED_UPLOAD'] = overlap
    images.make_qcow2(str(sample_server.root), 'm.qcow2',
                      size=64 * 1024 * 1024)
    job = submit(demo_session, stack, sample_server.url('m.qcow2'),
                 expected_checksum='sha256:' + '1' * 64)

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert (job.state, job.error_code) == (ImportJob.FAILED,
                                           'checksum_mismatch')
    if overlap:
        assert job.image_id, 'the upload did not start during the download'
        with pytest.raises(glance_exc.HTTPNotFound):
            demo_glance.images.get(job.image_id)
    else:
        assert job.image_id == ''
    assert images_named(demo_glance, job.image_name) == []
    assert os.listdir(importer_settings['WORK_DIR']) == []


def test_a_protected_image_whose_checks_fail_is_deleted_all_the_same(
        stack, demo_session, demo_glance, sample_server, importer_settings):
    # Glance refuses to delete a protected image; the job made this one
    # unfinished, so it lifts the protection and deletes it.
    importer_settings['OVERLAP_VERIFIED_UPLOAD'] = True
    images.make_qcow2(str(sample_server.root), 'p.qcow2',
                      size=64 * 1024 * 1024)
    job = submit(demo_session, stack, sample_server.url('p.qcow2'),
                 protected=True, expected_checksum='sha256:' + '2' * 64)

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert (job.state, job.error_code) == (ImportJob.FAILED,
                                           'checksum_mismatch')
    assert job.image_id, 'the upload did not start during the download'
    assert 'left_image' not in job.error_params
    with pytest.raises(glance_exc.HTTPNotFound):
        demo_glance.images.get(job.image_id)
    assert images_named(demo_glance, job.image_name) == []


def import_slowly(stack, demo_session, demo_glance, root,
                  importer_settings, name, **fields):
    """Import the file ``name`` of ``root`` served at 8 MiB/s, recording
    what Glance says of the image meanwhile (``job.seen``: (time,
    status))."""
    seen = []
    done = threading.Event()
    with FileServer(root, rate=8 * 1024 * 1024) as slow:
        importer_settings['URL_ALLOWLIST'] = ['127.0.0.1:%d' % slow.port]
        job = submit(demo_session, stack, slow.url(name), **fields)
        watcher = threading.Thread(target=watch_glance, args=(
            demo_glance, job.image_name, seen, done), daemon=True)
        watcher.start()
        try:
            run_to_active(job)
        finally:
            done.set()
            watcher.join()
    job.seen = seen
    return job


def assert_saving_during_the_download(job):
    """Glance was receiving data a second before the download ended."""
    download = job.phases[0]
    assert download['phase'] == 'downloading'
    ended = datetime.datetime.fromisoformat(download['end']).timestamp()
    assert [when for when, status in job.seen
            if status == 'saving' and when < ended - 1]


def test_upload_runs_while_the_download_goes_on(
        stack, demo_session, demo_glance, tmp_path, importer_settings):
    """With no conversion the upload starts once the format is known and
    follows the download; the image is active only after every check."""
    path, original = images.make_qcow2(str(tmp_path), 'overlap.qcow2',
                                       size=48 * 1024 * 1024)
    job = import_slowly(stack, demo_session, demo_glance, tmp_path,
                        importer_settings, 'overlap.qcow2')

    assert_saving_during_the_download(job)
    image = assert_image_holds(demo_glance, job, original, tmp_path)
    with open(path, 'rb') as served:
        assert image.os_hash_value == hashlib.sha512(
            served.read()).hexdigest()


def test_a_qcow2_made_raw_uploads_while_it_downloads(
        stack, demo_session, demo_glance, tmp_path, importer_settings):
    """A qcow2 written in the order of its disk is made raw as it
    arrives: Glance receives the raw disk during the download, and the
    image is active only after qemu-img map confirmed what was sent."""
    _path, original = images.make_qcow2(str(tmp_path), 'arriving.qcow2',
                                        size=48 * 1024 * 1024)
    job = import_slowly(stack, demo_session, demo_glance, tmp_path,
                        importer_settings, 'arriving.qcow2',
                        disk_format='raw')

    assert [p['phase'] for p in job.phases] == [
        'downloading', 'converting', 'uploading']
    assert routes(job) == ['RAW_AS_IT_ARRIVES']
    assert_saving_during_the_download(job)
    image = assert_image_holds(demo_glance, job, original, tmp_path)
    assert (image.disk_format, image.size) == ('raw', len(original))
    assert image.os_hash_value == hashlib.sha512(original).hexdigest()
    assert os.listdir(importer_settings['WORK_DIR']) == []


class CreatedImages:
    """The ids of the images the pipeline creates meanwhile."""

    def __init__(self, monkeypatch):
        self.ids = []
        real = glance.create_image

        def create_image(*args, **kwargs):
            image_id = real(*args, **kwargs)
            self.ids.append(image_id)
            return image_id
        monkeypatch.setattr(glance, 'create_image', create_image)


def test_a_compressed_qcow2_made_raw_waits_for_the_whole_file(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        tmp_path, monkeypatch, caplog):
    """Compressed clusters are QEMU's to read: nothing goes to Glance
    until the file is whole, then QEMU converts it into one image."""
    path = images.make_sparse_qcow2(str(sample_server.root), 'packed.qcow2',
                                    64 * 1024 * 1024, data=8 * 1024 * 1024,
                                    compressed=True)
    created = CreatedImages(monkeypatch)
    job = submit(demo_session, stack, sample_server.url('packed.qcow2'),
                 disk_format='raw')

    with caplog.at_level(logging.INFO, logger=pipeline.LOG.name):
        run_to_active(job)

    assert 'compressed cluster at disk offset 0' in caplog.text
    assert created.ids == [job.image_id]
    # Chosen as the format was known, then the next route, on the record.
    assert routes(job) == ['RAW_AS_IT_ARRIVES', 'CONVERTED_INTO_UPLOAD']
    assert_image_holds(demo_glance, job, images.to_raw_bytes(path, 'qcow2'),
                       tmp_path)


def test_what_qemu_img_map_does_not_confirm_is_converted_again(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        tmp_path, monkeypatch, caplog):
    """Were the qcow2 reader wrong (here: it places the disk's first
    cluster one cluster further in the file), qemu-img map catches it
    before Glance has the last bytes: that image is deleted and QEMU
    converts the qcow2 into a new one."""
    _path, original = images.make_qcow2(str(sample_server.root),
                                        'misread.qcow2',
                                        size=16 * 1024 * 1024)
    real = qcow2.Layout.advance
    misread = []

    def advance(layout, available, read, limit=None):
        found = real(layout, available, read, limit)
        if found and not misread and found[0][1] is not None:
            length, offset = found[0]
            found[0:1] = [(65536, offset + 65536), (length - 65536,
                                                    offset + 65536)]
            misread.append(offset)
        return found
    monkeypatch.setattr(qcow2.Layout, 'advance', advance)
    created = CreatedImages(monkeypatch)
    job = submit(demo_session, stack, sample_server.url('misread.qcow2'),
                 disk_format='raw')

    with caplog.at_level(logging.INFO, logger=pipeline.LOG.name):
        run_to_active(job)

    assert misread
    assert 'qemu-img map does not confirm' in caplog.text
    assert routes(job) == ['RAW_AS_IT_ARRIVES', 'CONVERTED_INTO_UPLOAD']
    first, second = created.ids
    with pytest.raises(glance_exc.HTTPNotFound):
        demo_glance.images.get(first)
    assert second == job.image_id
    assert_image_holds(demo_glance, job, original, tmp_path)
    assert images_named(demo_glance, job.image_name) == []


class CountingSha512:
    """Counts the bytes every SHA-512 made meanwhile is given."""

    def __init__(self, monkeypatch):
        self.hashed = 0
        real = hashlib.new

        def new(name, *args, **kwargs):
            made = real(name, *args, **kwargs)
            return self.Counted(made, self) if name == 'sha512' else made
        monkeypatch.setattr(hashlib, 'new', new)

    class Counted:
        def __init__(self, made, counter):
            self._made, self._counter = made, counter
            self.name = made.name

        def update(self, data):
            self._counter.hashed += len(data)
            self._made.update(data)

        def hexdigest(self):
            return self._made.hexdigest()


def test_a_kept_image_checked_by_sha512_is_hashed_once(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        tmp_path, monkeypatch):
    """The user's sha512 of the download is the hash Glance must hold of
    an image sent unchanged: it is compared end to end, not computed
    again."""
    path, original = images.make_qcow2(str(sample_server.root),
                                       'sha512-once.qcow2',
                                       size=16 * 1024 * 1024)
    with open(path, 'rb') as served:
        served_sha512 = hashlib.sha512(served.read()).hexdigest()
    job = submit(demo_session, stack, sample_server.url('sha512-once.qcow2'),
                 expected_checksum='sha512:' + served_sha512)
    counter = CountingSha512(monkeypatch)

    run_to_active(job)

    assert counter.hashed == os.path.getsize(path)
    assert job.checksum_verified == 'sha512'
    image = assert_image_holds(demo_glance, job, original, tmp_path)
    assert image.os_hash_value == served_sha512


@pytest.fixture
def tiny_work_dir(small_tmpfs, importer_settings):
    """WORK_DIR on a 4 MiB file system."""
    mountpoint = small_tmpfs('4m')
    importer_settings.update(WORK_DIR=str(mountpoint), WORK_DIR_RESERVE=0)
    return mountpoint


def test_an_image_fed_to_glance_needs_no_work_disk(
        stack, demo_session, demo_glance, sample_server, tiny_work_dir,
        tmp_path):
    path, original = images.make_qcow2(str(sample_server.root), 'big.qcow2',
                                       size=32 * 1024 * 1024)
    assert os.path.getsize(path) > 8 * 1024 * 1024
    kept = submit(demo_session, stack, sample_server.url('big.qcow2'))
    run_to_active(kept)
    assert_image_holds(demo_glance, kept, original, tmp_path)

    # Converted, it must go to the disk first, which is too small.
    converted = submit(demo_session, stack, sample_server.url('big.qcow2'),
                       disk_format='raw')
    runner.run_job(converted.pk)
    converted.refresh_from_db()
    assert (converted.state, converted.error_code) == (ImportJob.FAILED,
                                                       'disk_full')
    assert images_named(demo_glance, converted.image_name) == []
    assert os.listdir(tiny_work_dir) == []

    # A qcow2 that fits, of a disk far larger than the free space: made
    # raw as it uploads, the disk itself is never written.
    images.make_sparse_qcow2(str(sample_server.root), 'sparse.qcow2',
                             virtual_size=256 * 1024 * 1024)
    sparse = submit(demo_session, stack, sample_server.url('sparse.qcow2'),
                    disk_format='raw')
    run_to_active(sparse)
    assert [p['phase'] for p in sparse.phases] == [
        'downloading', 'converting', 'uploading']
    image = demo_glance.images.get(sparse.image_id)
    assert (image.disk_format, image.size) == ('raw', 256 * 1024 * 1024)
    stored = glance_raw_bytes(demo_glance, image, tmp_path)
    assert image.os_hash_value == hashlib.sha512(stored).hexdigest()
    assert stored == images.to_raw_bytes(
        str(sample_server.root / 'sparse.qcow2'), 'qcow2')
    demo_glance.images.delete(image.id)
    assert os.listdir(tiny_work_dir) == []


def watch_glance(glance, name, seen, done):
    """Record (time, status) of the image called ``name`` until done."""
    while not done.wait(0.2):
        for image in glance.images.list(filters={'name': name}):
            seen.append((time.time(), image.status))


def test_tar_xz_with_raw_disk_ends_active(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        tmp_path):
    raw = str(tmp_path / 'disk.raw')
    original = images.random_raw(raw)
    archive = str(sample_server.root / 'appliance.tar.xz')
    with tarfile.open(archive, 'w:xz') as tar:
        tar.add(raw, arcname='disk.raw')
    job = submit(demo_session, stack, sample_server.url('appliance.tar.xz'))

    run_to_active(job)
    assert (job.compression, job.archive_member, job.disk_format) == (
        'xz', 'disk.raw', 'raw')
    assert_image_holds(demo_glance, job, original, tmp_path)


@pytest.mark.parametrize('disk_format', ['', 'qcow2'])
def test_a_gce_style_sparse_tar_gz_ends_active(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        tmp_path, disk_format):
    # GCE's image format: disk.raw in a tar.gz made with GNU tar's
    # --format=oldgnu -S, its empty parts holes in the archive.
    raw = tmp_path / 'disk.raw'
    with open(raw, 'wb') as f:
        f.write(os.urandom(1024 * 1024))
        f.seek(40 * 1024 * 1024)
        f.write(os.urandom(1024 * 1024))
        f.truncate(64 * 1024 * 1024)
    subprocess.run(['tar', '--format=oldgnu', '-Sczf',
                    str(sample_server.root / 'gce-image.tar.gz'),
                    'disk.raw'], cwd=tmp_path, check=True)
    job = submit(demo_session, stack, sample_server.url('gce-image.tar.gz'),
                 disk_format=disk_format)

    run_to_active(job)
    assert (job.compression, job.archive_member) == ('gzip', 'disk.raw')
    assert job.disk_format == (disk_format or 'raw')
    assert_image_holds(demo_glance, job, raw.read_bytes(), tmp_path)


OVF = '''<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
          xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References>
    <File ovf:href="appliance-disk1.vmdk" ovf:id="file1"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:capacity="4" ovf:capacityAllocationUnits="byte * 2^20"
          ovf:diskId="vmdisk1" ovf:fileRef="file1"
          ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
</Envelope>
'''


def test_ova_with_stream_optimized_vmdk_converts_to_raw(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        tmp_path):
    raw = str(tmp_path / 'disk.raw')
    original = images.random_raw(raw)
    vmdk = str(tmp_path / 'appliance-disk1.vmdk')
    images.qemu_img('convert', '-f', 'raw', '-O', 'vmdk', '-o',
                    'subformat=streamOptimized', raw, vmdk)
    ovf = tmp_path / 'appliance.ovf'
    ovf.write_text(OVF)
    with tarfile.open(str(sample_server.root / 'appliance.ova'), 'w') as tar:
        tar.add(str(ovf), arcname='appliance.ovf')
        tar.add(vmdk, arcname='appliance-disk1.vmdk')
    job = submit(demo_session, stack, sample_server.url('appliance.ova'),
                 disk_format='raw')

    run_to_active(job)
    assert (job.archive_member, job.source_format, job.disk_format) == (
        'appliance-disk1.vmdk', 'vmdk', 'raw')
    assert_image_holds(demo_glance, job, original, tmp_path)


def test_asking_iso_from_a_qcow2_explains_the_mistake(
        stack, demo_session, demo_glance, sample_server, importer_settings):
    images.make_qcow2(str(sample_server.root), 'jammy.img')
    job = submit(demo_session, stack, sample_server.url('jammy.img'),
                 disk_format='iso')

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert job.state == ImportJob.FAILED
    assert failures.describe(job.error_code, job.error_params) == (
        'This file (jammy.img) is a qcow2 disk image, not an installer ISO; '
        'choose Automatic (qcow2) or raw.')
    assert images_named(demo_glance, job.image_name) == []


@pytest.mark.parametrize('project_of_retry', ['same', 'other'])
def test_a_retry_continues_what_the_failed_import_downloaded(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        tmp_path, project_of_retry):
    # Made raw, so the download goes to the work file. The first run loses
    # its connection half-way and may not resume it: it fails.
    name = 'retried.qcow2'
    path, original = images.make_qcow2(str(sample_server.root), name,
                                       size=32 * 1024 * 1024)
    size = os.path.getsize(path)
    sample_server.faults['/' + name] = Fault(drop_after=size // 2)
    importer_settings['DOWNLOAD_RETRIES'] = 0
    first = run_to_failure(submit(demo_session, stack, sample_server.url(
        name), disk_format='raw'), 'connection_lost')
    before = len(sample_server.requests)

    # Another project's import of the URL starts from nothing (the job's
    # token is the demo's: only the recorded project differs).
    retry = run_to_active(submit(
        demo_session, stack, first.source_url, disk_format='raw',
        project_id=('another' if project_of_retry == 'other'
                    else first.project_id)))

    [(_method, _path, ranged)] = [
        r for r in sample_server.requests[before:] if r[1] == '/' + name]
    kept = os.listdir(os.path.join(importer_settings['WORK_DIR'], 'partial'))
    if project_of_retry == 'same':
        assert ranged is not None
        assert int(ranged.split('=')[1].rstrip('-')) > size // 4
        assert kept == []
    else:
        assert ranged is None
        assert kept == [runner._partial_key(first)]
    assert_image_holds(demo_glance, retry, original, tmp_path)


@pytest.mark.parametrize('name, body', [
    # A download page pasted instead of the file's link, large enough
    # that the upload would start during the download.
    ('download', b'<!DOCTYPE html>\n<html><head><title>Ubuntu</title>'
                 b'</head><body>' + b'<p>mirror</p>\n' * 400000 +
                 b'</body></html>\n'),
    # A small text file: no disk image is that small.
    ('README', b'Cloud images are in the folders below.\n' * 20),
])
def test_what_is_no_disk_image_is_refused_and_leaves_nothing_in_glance(
        stack, demo_session, demo_glance, sample_server, importer_settings,
        name, body):
    (sample_server.root / name).write_bytes(body)
    job = submit(demo_session, stack, sample_server.url(name))

    runner.run_job(job.pk)

    job.refresh_from_db()
    assert (job.state, job.error_code) == (
        ImportJob.FAILED, 'web_page' if name == 'download'
        else 'not_a_disk_image')
    assert images_named(demo_glance, job.image_name) == []
    assert job_folders(importer_settings['WORK_DIR']) == []
