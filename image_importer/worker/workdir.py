"""Each job's work folder on this host: ``WORK_DIR/<job id>``.

A folder outlives a worker that dies, so the job's next run on the same
host continues its download. A lock beside it (released by the kernel
when its process dies) keeps two runs of one job from sharing it.

What a failed or cancelled job downloaded moves to
``WORK_DIR/partial/<key>`` (the key names the project, the URL and its
password without revealing them) for ``KEEP_PARTIAL_DOWNLOADS`` seconds:
the next import of that URL in that project on this host (a retry, an
edit and retry) takes it and continues where the server allows
(``engine.pipeline`` asks with ``If-Range``, so a changed file is
downloaded anew).
"""

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import time

from image_importer import conf
from image_importer.engine import pipeline
from image_importer.models import ImportJob

PARTIAL_DIR = 'partial'
# What a later run needs to continue a download: the file, and the URL
# and validator it came with.
PARTIAL_FILES = (pipeline.SOURCE_FILE, pipeline.RESUME_FILE)


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


def keep_partial(path, key):
    """Keep the download that the folder ``path`` of a failed or
    cancelled job holds, under ``key``, if a later run can continue it;
    True if kept."""
    if not conf.get('KEEP_PARTIAL_DOWNLOADS') or not all(
            os.path.isfile(os.path.join(path, name))
            for name in PARTIAL_FILES):
        return False
    root = _partial_root(create=True)
    staged = tempfile.mkdtemp(prefix='.', dir=root)
    for name in PARTIAL_FILES:
        os.rename(os.path.join(path, name), os.path.join(staged, name))
    target = os.path.join(root, key)
    shutil.rmtree(target, ignore_errors=True)     # an older one
    try:
        os.rename(staged, target)
    except OSError:             # another job kept one at the same time
        shutil.rmtree(staged, ignore_errors=True)
        return False
    _give_way(root)
    return key in os.listdir(root)


def _give_way(root):
    """Remove the oldest kept downloads while they hold more than the
    file system has free: the jobs to come need the room more."""
    kept = []
    for name in os.listdir(root):
        folder = os.path.join(root, name)
        with contextlib.suppress(OSError):
            kept.append((os.path.getmtime(folder), _bytes(folder), folder))
    kept.sort()
    held = sum(size for _mtime, size, _folder in kept)
    free = shutil.disk_usage(root).free
    while kept and held > free:
        _mtime, size, folder = kept.pop(0)
        shutil.rmtree(folder, ignore_errors=True)
        held -= size
        free += size


def _bytes(folder):
    """The disk space the files of ``folder`` take."""
    return sum(os.stat(os.path.join(folder, name)).st_blocks * 512
               for name in os.listdir(folder))


def adopt_partial(path, key):
    """Move a download kept under ``key`` into the new job's folder
    ``path`` (only one job takes it); the bytes it holds, or 0."""
    if os.path.exists(os.path.join(path, pipeline.SOURCE_FILE)):
        return 0            # the job's own earlier run left one
    root = _partial_root()
    taken = os.path.join(root, '.taken-' + os.path.basename(path))
    try:
        os.rename(os.path.join(root, key), taken)
    except OSError:
        return 0
    try:
        for name in PARTIAL_FILES:
            os.rename(os.path.join(taken, name), os.path.join(path, name))
    except OSError:
        for name in PARTIAL_FILES:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(path, name))
        return 0
    finally:
        shutil.rmtree(taken, ignore_errors=True)
    return os.path.getsize(os.path.join(path, pipeline.SOURCE_FILE))


def _partial_root(create=False):
    root = os.path.join(conf.private_dir('WORK_DIR'), PARTIAL_DIR)
    if create:
        os.makedirs(root, mode=0o700, exist_ok=True)
    return root


def clean_partials(older_than):
    """Remove kept downloads older than ``older_than`` seconds; returns
    their folders."""
    root = os.path.join(conf.get('WORK_DIR'), PARTIAL_DIR)
    if not os.path.isdir(root):
        return []
    cutoff = time.time() - older_than
    removed = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        with contextlib.suppress(FileNotFoundError):
            if os.path.getmtime(path) <= cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


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
             if not name.endswith('.lock') and name != PARTIAL_DIR}
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
    return removed + clean_partials(
        max(older_than, conf.get('KEEP_PARTIAL_DOWNLOADS')))


def _is_uuid(name):
    return len(name) == 36 and name.count('-') == 4
