"""Each job's work folder on this host: ``WORK_DIR/<job id>``.

A folder outlives a worker that dies, so the job's next run on the same
host continues its download. A lock beside it (released by the kernel
when its process dies) keeps two runs of one job from sharing it.
"""

import contextlib
import errno
import fcntl
import os
import shutil
import time

from image_importer import conf
from image_importer.models import ImportJob


@contextlib.contextmanager
def work_dir(job_id, wait=60):
    """The job's work folder, ``WORK_DIR/<job id>``, held under a lock.

    The folder outlives a worker that dies, so the job's next run on this
    host continues its download. The lock (released by the kernel when its
    process dies) keeps a run that lost its lease but still lives from
    sharing the folder with the run that took over; the new run waits up
    to ``wait`` seconds for it to stop.
    """
    root = conf.private_dir('WORK_DIR')
    path = os.path.join(root, str(job_id))
    lock = _lock(path + '.lock', wait)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        yield path
    finally:
        lock.close()


def _lock(path, wait):
    deadline = time.monotonic() + wait
    while True:
        handle = open(path, 'a')
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() > deadline:
                raise WorkDirBusy(path)
            time.sleep(0.5)
            continue
        # The holder before us may have removed the file it locked.
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                return handle
        except FileNotFoundError:
            pass
        handle.close()


class WorkDirBusy(Exception):
    """Another live process on this host still holds the job's folder."""


def remove_work_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path + '.lock')


def clean_work_dirs(older_than=0):
    """Remove work folders of jobs that cannot continue here: ended,
    deleted, or running elsewhere. A folder whose lock is held (a live
    run on this host) and one of a queued job (it may resume here) stay.
    Returns the folders removed."""
    root = conf.get('WORK_DIR')
    if not os.path.isdir(root):
        return []
    cutoff = time.time() - older_than
    names = {name for name in os.listdir(root)
             if not name.endswith('.lock')}
    keep = {str(pk) for pk in ImportJob.objects.filter(
        pk__in=[n for n in names if _is_uuid(n)],
        state__in=(ImportJob.QUEUED,) + ImportJob.RUNNING).values_list(
            'pk', flat=True)}
    removed = []
    for name in sorted(names - keep):
        path = os.path.join(root, name)
        with contextlib.suppress(FileNotFoundError):
            if os.path.getmtime(path) > cutoff:
                continue
        try:
            lock = _lock(path + '.lock', wait=0)
        except WorkDirBusy:
            continue
        with lock:
            remove_work_dir(path)
        removed.append(path)
    return removed


def _is_uuid(name):
    return len(name) == 36 and name.count('-') == 4
