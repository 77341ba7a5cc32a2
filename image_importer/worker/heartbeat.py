"""Keep a running job's lease alive, and stop its run at once on cancel.

Progress writes renew the lease, but a run can go a long time without
one: a server that answers nothing, qemu-img working through a large
disk, Glance slow to take the next chunk. ``Heartbeat`` renews the lease
from a thread of its own every ``HEARTBEAT_SECONDS``, whatever the run is
doing. When the renewal finds the job is no longer this run's (cancelled,
deleted, taken over after a lost lease), it stops the run through its
``Interrupt``: the run's thread gets ``Cancelled`` raised in it within
moments, out of whatever call it was waiting in (a socket receive or
send, a read from qemu-img's pipe, a sleep), and the engine's clean-up
(killing its child processes, deleting the unfinished image) runs on the
way out.

The interruption is a signal (``STOP_SIGNAL``) the worker sends to its own
thread; Python runs signal handlers only in the main thread, which is
where Celery's prefork and solo pools run tasks. In a thread pool the run
stops at its next progress write instead.
"""

import logging
import signal
import threading

from django import db

from image_importer.engine.errors import Cancelled
from image_importer.models import ImportJob

LOG = logging.getLogger(__name__)

# A real-time signal nothing else in a worker uses (Celery's soft time
# limit is SIGUSR1; its remote debugger, when enabled, SIGUSR2).
STOP_SIGNAL = signal.SIGRTMIN + 4

_armed = None       # the Interrupt the main thread runs under, if any
_installed = False


def _on_stop_signal(signum, frame):
    interrupt = _armed
    if interrupt is not None and interrupt.fire():
        raise Cancelled(interrupt.job_id)


class Interrupt:
    """Lets another thread make the block it guards raise ``Cancelled``.

    ``stop()`` raises it at most once, and only while the block runs: the
    clean-up that follows runs undisturbed, and a late ``stop()`` is a
    no-op. The handler stays installed for the life of the process, so a
    signal that arrives after the block can never kill the worker.
    """

    def __init__(self, job_id):
        self.job_id = job_id
        self.stopped = False
        self._lock = threading.Lock()
        self._live = False
        self._thread = threading.current_thread()

    @property
    def signals(self):
        """Whether ``stop()`` can interrupt the guarded thread at once."""
        return self._thread is threading.main_thread()

    def __enter__(self):
        global _armed, _installed
        if self.signals:
            if not _installed:
                signal.signal(STOP_SIGNAL, _on_stop_signal)
                _installed = True
            _armed = self
        self._live = True
        return self

    def __exit__(self, *exc):
        global _armed
        with self._lock:
            self._live = False
        if _armed is self:
            _armed = None

    def fire(self):
        """True once, if the block still runs (called by the handler)."""
        with self._lock:
            if not self._live:
                return False
            self._live = False
            return True

    def stop(self):
        self.stopped = True
        with self._lock:
            live = self._live
        if live and self.signals:
            signal.pthread_kill(self._thread.ident, STOP_SIGNAL)


class Heartbeat:
    """Renew ``job``'s lease every ``interval`` seconds from a thread;
    call ``on_lost()`` once if the job is no longer this run's."""

    def __init__(self, job, interval, lease_seconds, on_lost):
        self.job_id = job.pk
        self.owner = job.lease_owner
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.on_lost = on_lost
        self.beats = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='heartbeat-%s' % job.pk)

    def __enter__(self):
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self):
        try:
            while not self._done.wait(self.interval):
                try:
                    held = ImportJob.renew_lease(self.job_id, self.owner,
                                                 self.lease_seconds)
                except db.Error as exc:
                    # Down for a moment: the lease has time to spare.
                    LOG.warning('Import job %s: lease not renewed (%s)',
                                self.job_id, exc)
                    db.connection.close()
                    continue
                self.beats += 1
                if not held and not self._done.is_set():
                    LOG.info('Import job %s is no longer this run\'s '
                             '(cancelled or taken over); stopping it',
                             self.job_id)
                    self.on_lost()
                    return
        finally:
            db.connection.close()
