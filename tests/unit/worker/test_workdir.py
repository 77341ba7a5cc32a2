"""Work folders: what a failed or cancelled job downloaded is kept for a
retry of the same URL in the same project, for a while."""

import json
import os
import time

import pytest

from image_importer import crypto
from image_importer.engine import pipeline
from image_importer.models import ImportJob
from image_importer.worker import runner
from image_importer.worker import workdir
from tests.unit.factories import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def work_root(tmp_path, settings):
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER,
                                   WORK_DIR=str(tmp_path / 'work'))
    return tmp_path / 'work'


def downloaded(folder, data=b'x' * 1000, url='https://example.org/a.img'):
    """A job folder holding a download a later run can continue."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, pipeline.SOURCE_FILE), 'wb') as f:
        f.write(data)
    with open(os.path.join(folder, pipeline.RESUME_FILE), 'w') as f:
        json.dump({'url': url, 'validator': '"v1"'}, f)


def test_a_kept_download_goes_to_the_next_job_with_its_key(work_root):
    with workdir.work_dir('job-1') as old:
        downloaded(old)
        assert workdir.keep_partial(old, 'k1')
        workdir.remove_work_dir(old)

    with workdir.work_dir('job-2') as other:
        assert workdir.adopt_partial(other, 'k2') == 0
        assert os.listdir(other) == []
    with workdir.work_dir('job-3') as new:
        assert workdir.adopt_partial(new, 'k1') == 1000
        assert sorted(os.listdir(new)) == sorted(workdir.PARTIAL_FILES)
    # Taken once: nothing is left for another job.
    with workdir.work_dir('job-4') as late:
        assert workdir.adopt_partial(late, 'k1') == 0
    assert os.listdir(work_root / workdir.PARTIAL_DIR) == []


def test_only_a_download_a_run_can_continue_is_kept(work_root):
    with workdir.work_dir('job-1') as path:
        # Unpacked on the way (no resume state): nothing to continue.
        with open(os.path.join(path, pipeline.SOURCE_FILE), 'wb') as f:
            f.write(b'x')
        assert not workdir.keep_partial(path, 'k1')


def test_keeping_can_be_turned_off(work_root, settings):
    settings.IMAGE_IMPORTER['KEEP_PARTIAL_DOWNLOADS'] = 0
    with workdir.work_dir('job-1') as path:
        downloaded(path)
        assert not workdir.keep_partial(path, 'k1')


def test_a_jobs_own_earlier_run_wins_over_a_kept_download(work_root):
    with workdir.work_dir('job-1') as old:
        downloaded(old)
        workdir.keep_partial(old, 'k1')
    with workdir.work_dir('job-2') as path:
        downloaded(path, data=b'y' * 10)
        assert workdir.adopt_partial(path, 'k1') == 0
        assert os.path.getsize(os.path.join(path, 'source')) == 10


def test_kept_downloads_give_way_to_the_jobs_to_come(
        work_root, monkeypatch):
    # Kept downloads may hold at most what the file system has free.
    for n, key in enumerate(('oldest', 'older', 'newest')):
        with workdir.work_dir('job-%d' % n) as path:
            downloaded(path, data=os.urandom(64 * 1024))
            monkeypatch.setattr(workdir.shutil, 'disk_usage',
                                lambda path: FakeUsage(free=150 * 1024))
            assert workdir.keep_partial(path, key)
            monkeypatch.undo()
            os.utime(work_root / workdir.PARTIAL_DIR / key,
                     (time.time() - 100 + n,) * 2)

    assert sorted(os.listdir(work_root / workdir.PARTIAL_DIR)) == [
        'newest', 'older']


class FakeUsage:
    def __init__(self, free):
        self.free = free


def test_kept_downloads_expire(work_root, settings):
    with workdir.work_dir('job-1') as old:
        downloaded(old)
        workdir.keep_partial(old, 'k1')
    workdir.remove_work_dir(old)
    settings.IMAGE_IMPORTER['KEEP_PARTIAL_DOWNLOADS'] = 3600

    assert workdir.clean_work_dirs() == []      # young: stays
    kept = work_root / workdir.PARTIAL_DIR / 'k1'
    os.utime(kept, (time.time() - 3601,) * 2)

    assert workdir.clean_work_dirs() == [str(kept)]
    assert not kept.exists()


def test_the_key_names_project_url_and_password():
    def key(**fields):
        values = dict(project_id='p1', source_url='https://x.org/a.img',
                      source_credentials='')
        values.update(fields)
        return runner._partial_key(ImportJob(**values))

    assert key() == key()
    others = {key(project_id='p2'), key(source_url='https://x.org/b.img'),
              key(source_credentials=crypto.encrypt('bob:pw'))}
    assert key() not in others and len(others) == 3


def test_a_failed_job_keeps_its_download_and_an_active_one_does_not(
        work_root):
    failed = make_job(state=ImportJob.FAILED)
    active = make_job(state=ImportJob.ACTIVE,
                      source_url='https://images.example.org/b.qcow2')
    for job in (failed, active):
        with workdir.work_dir(job.pk) as path:
            downloaded(path)
            runner._keep_partial(job, path)

    assert os.listdir(work_root / workdir.PARTIAL_DIR) == [
        runner._partial_key(failed)]
