"""A running job's lease is kept alive, and a cancel stops its run at once,
whatever the run is waiting on: a silent server, qemu-img at work.

The jobs run in-process as the Celery task runs them (``runner.run_job``,
in the main thread as in a prefork worker), against committed rows, since
the heartbeat writes from a thread of its own.
"""

import datetime
import os
import pathlib
import shutil
import subprocess
import threading
import time

from django import db
from django.utils import timezone
import pytest

from image_importer.api import glance as api_glance
from image_importer.engine import disk
from image_importer.engine.errors import Cancelled
from image_importer.engine import fetch
from image_importer.engine import pipeline
from image_importer.models import ImportJob
from image_importer.worker import heartbeat
from image_importer.worker import runner
from image_importer.worker import sweeper
from tests.unit.factories import make_job
from tools.fakeglance import FakeGlance
from tools.fileserver import Fault
from tools.fileserver import FileServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / 'files'
    root.mkdir()
    (root / 'disk.raw').write_bytes(os.urandom(1024 * 1024))
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2',
                    str(root / 'disk.raw'), str(root / 'disk.qcow2')],
                   check=True)
    with FileServer(root) as srv:
        yield srv


@pytest.fixture
def worker(settings, tmp_path, server, monkeypatch):
    """Worker settings with a fast heartbeat; jobs reach ``server`` only,
    with no Glance (they are stopped before any upload)."""
    settings.IMAGE_IMPORTER = dict(
        settings.IMAGE_IMPORTER, WORK_DIR=str(tmp_path / 'work'),
        HEARTBEAT_SECONDS=0.2, LEASE_SECONDS=300, PROGRESS_INTERVAL=0.1)
    policy = fetch.UrlPolicy(allow=('127.0.0.1:%d' % server.port,),
                             read_timeout=60)

    def build_request(job):
        return pipeline.ImportRequest(
            url=job.source_url, fetcher=fetch.Fetcher(policy),
            glance_client=FakeGlance(),
            image_meta=api_glance.image_meta(job),
            disk_format=job.disk_format or None)

    monkeypatch.setattr(runner, 'build_request', build_request)
    return tmp_path / 'work'


def cancel_when(job, state, timeout=30):
    """In a thread: cancel ``job`` (as the dashboard does) once it is in
    ``state``; returns the thread, whose ``.at`` is when it cancelled."""
    def run():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = ImportJob.objects.get(pk=job.pk)
            if row.state == state:
                time.sleep(0.3)     # well into the phase
                ImportJob.objects.get(pk=job.pk).cancel()
                thread.at = time.monotonic()
                break
            time.sleep(0.05)
        db.connection.close()
    thread = threading.Thread(target=run, daemon=True)
    thread.at = None
    thread.start()
    return thread


def test_cancel_stops_a_run_waiting_on_a_silent_server(server, worker):
    # The server sends 64 KiB and then nothing, the connection open: the
    # run waits in a socket receive with a minute's timeout.
    server.faults['/disk.raw'] = Fault(stall_after=65536)
    job = make_job(source_url=server.url('disk.raw'))
    canceller = cancel_when(job, ImportJob.DOWNLOADING)

    runner.run_job(job.pk)
    stopped = time.monotonic()
    canceller.join()

    assert canceller.at is not None
    assert stopped - canceller.at < 3, stopped - canceller.at
    job.refresh_from_db()
    assert job.state == ImportJob.CANCELLED
    # The run released its place under the running limits, and its folder.
    assert (job.lease_owner, job.lease_expires) == ('', None)
    assert not (worker / str(job.pk)).exists()


@pytest.fixture
def slow_qemu_img(tmp_path, monkeypatch):
    """qemu-img whose ``convert`` takes a minute; its pid in ``.pid``."""
    real = shutil.which('qemu-img')
    pid_file = tmp_path / 'convert.pid'
    script = tmp_path / 'qemu-img'
    script.write_text(
        '#!/bin/sh\n'
        'if [ "$1" = convert ]; then echo $$ > %s; exec sleep 60; fi\n'
        'exec %s "$@"\n' % (pid_file, real))
    script.chmod(0o755)
    monkeypatch.setattr(disk, 'QEMU_IMG', str(script))
    return pid_file


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead, only not yet reaped.
    stat = pathlib.Path('/proc/%d/stat' % pid).read_text()
    return stat.rsplit(')', 1)[1].split()[0] != 'Z'


def test_cancel_kills_a_conversion_at_work(server, worker, slow_qemu_img):
    job = make_job(source_url=server.url('disk.qcow2'), disk_format='vmdk')
    canceller = cancel_when(job, ImportJob.CONVERTING)

    runner.run_job(job.pk)
    stopped = time.monotonic()
    canceller.join()

    assert canceller.at is not None, 'the conversion never started'
    assert stopped - canceller.at < 3, stopped - canceller.at
    pid = int(slow_qemu_img.read_text())
    assert not _alive(pid)
    job.refresh_from_db()
    assert job.state == ImportJob.CANCELLED
    assert not (worker / str(job.pk)).exists()


def test_the_lease_is_renewed_while_nothing_progresses(server, worker,
                                                       settings):
    # A lease of 2 s and a server that answers nothing for longer: no
    # progress is written, yet the sweeper must not take the job away.
    settings.IMAGE_IMPORTER = dict(settings.IMAGE_IMPORTER, LEASE_SECONDS=2)
    server.faults['/disk.raw'] = Fault(stall_after=65536)
    job = make_job(source_url=server.url('disk.raw'))
    swept = []

    def sweep_then_cancel():
        time.sleep(4)
        sweeper.sweep(swept.append)
        ImportJob.objects.get(pk=job.pk).cancel()
        db.connection.close()

    thread = threading.Thread(target=sweep_then_cancel, daemon=True)
    thread.start()
    runner.run_job(job.pk)
    thread.join()

    assert swept == []
    job.refresh_from_db()
    assert job.state == ImportJob.CANCELLED and job.attempts == 1


def test_a_heartbeat_that_finds_the_job_gone_calls_on_lost_once():
    job = ImportJob.claim(make_job().pk, 'w:1', 300)
    lost = []
    with heartbeat.Heartbeat(job, 0.05, 300, lambda: lost.append(1)) as beat:
        time.sleep(0.3)
        assert lost == [] and beat.beats >= 2
        renewed = ImportJob.objects.get(pk=job.pk).lease_expires
        assert renewed > timezone.now() + datetime.timedelta(seconds=290)
        ImportJob.objects.get(pk=job.pk).cancel()
        time.sleep(0.3)
    assert lost == [1]


def test_a_stop_outside_the_block_is_a_no_op():
    interrupt = heartbeat.Interrupt('j')
    interrupt.stop()                    # before: nothing to stop
    with interrupt:
        pass
    interrupt.stop()                    # after: the worker lives on
    time.sleep(0.1)


def test_a_stop_raises_cancelled_once_in_the_block():
    with pytest.raises(Cancelled):
        with heartbeat.Interrupt('j') as interrupt:
            threading.Timer(0.1, interrupt.stop).start()
            time.sleep(10)
    # The clean-up after it is not interrupted again.
    with heartbeat.Interrupt('k') as interrupt:
        try:
            threading.Timer(0.1, interrupt.stop).start()
            time.sleep(10)
        except Cancelled:
            interrupt.stop()
            time.sleep(0.3)
