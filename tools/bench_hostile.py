"""What hostile inputs cost the worker: time, memory, bytes to Glance.

Run from the Horizon virtualenv (``tools/test`` makes it), or ``tox -e
bench-hostile``::

    ~/.cache/horizon-image-importer/venv-horizon/bin/python \
        tools/bench_hostile.py [--state DIR]

Starts its own Keystone + Glance, an import worker with the default
settings (``tools.dashboard.Dashboard``: Celery prefork, the embedded
broker; only the file server is allowed as a source) and a loopback file
server over small files made to cost a lot, and imports each as a
project member would:

- a 1 TiB qcow2 of a few hundred KB, asked for as raw;
- a qcow2 claiming 64 PiB whose every table entry names one zero table;
- a .tar.gz whose first member is a 400 MiB pax header (400 KB of gzip);
- a .raw.zst of 1 GiB zstd frames of zeros, 2 TiB in all (64 MiB);
- a server that sends its status line and then a header line every
  second, never ending its headers;
- a server that sends 1 MiB and then nothing, the connection open; the
  job is cancelled after a few seconds, as a user would.

For each it prints the outcome (the failure code; "cancelled" for the
last), the seconds from submit to the end (for the cancel, from the
cancel to the run stopped and its place freed), the worker process's
peak RSS during the job (``VmHWM``, reset before each), and whether any
image reached Glance. Also the worker's RSS at rest, before the first job
and after the last. Exit status 1 if an outcome is not the expected one.
"""

import argparse
import gzip
import json
from pathlib import Path
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import bench  # noqa: E402
from tools.fileserver import Fault  # noqa: E402
from tools import images  # noqa: E402
from tools import stack as stack_tool  # noqa: E402

MIB = 1024 * 1024
GIB = 1024 * MIB
TIB = 1024 * GIB
PIB = 1024 * TIB

# (key, what it is, file, format asked for, expected end)
CASES = [
    ('qcow2-1tib-raw', '1 TiB qcow2 of 200 KB, as raw', 'tib.qcow2', 'raw',
     'output_too_large'),
    ('qcow2-64pib', 'qcow2 claiming 64 PiB, one zero table',
     'pib.qcow2', 'raw', 'virtual_too_large'),
    ('tar-pax-400mib', '.tar.gz with a 400 MiB pax header',
     'pax.tar.gz', '', 'archive_header_too_large'),
    ('zstd-bomb-2tib', '2 TiB of zstd frames in 64 MiB', 'bomb.raw.zst',
     '', 'decompression_bomb'),
    ('header-trickle', 'a header line a second, never ending',
     'trickle.qcow2', '', 'no_answer'),
    ('silent-cancel', 'silent after 1 MiB, then cancelled',
     'silent.qcow2', '', 'cancelled'),
]


def make_files(folder):
    """The hostile files, made once."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / 'tib.qcow2').exists():
        images.make_sparse_qcow2(str(folder), 'tib.qcow2', TIB,
                                 data=64 * 1024)
    if not (folder / 'pib.qcow2').exists():
        images.make_qcow2_of_one_zero_table(str(folder / 'pib.qcow2'),
                                            64 * PIB)
    if not (folder / 'pax.tar.gz').exists():
        header = tarfile.TarInfo('././@PaxHeader')
        header.type = tarfile.XHDTYPE
        header.size = 400 * MIB
        with gzip.open(folder / 'pax.tar.gz', 'wb') as out:
            out.write(header.tobuf(tarfile.USTAR_FORMAT))
            block = b'a' * MIB
            for _ in range(400):
                out.write(block)
    if not (folder / 'bomb.raw.zst').exists():
        import zstandard
        frame = zstandard.ZstdCompressor().compress(bytes(GIB))
        with open(folder / 'bomb.raw.zst', 'wb') as out:
            for _ in range(2048):
                out.write(frame)
    for name in ('trickle.qcow2', 'silent.qcow2'):
        if not (folder / name).exists():
            images.make_qcow2(str(folder), name, size=64 * MIB)


class HostileBench(bench.Bench):

    def __init__(self, state, cache):
        super().__init__(size=0, runs=1, state=state, cache=cache)

    def importer_settings(self):
        return {}       # the defaults an operator gets

    def url(self, name):
        return self.server.url('hostile/' + name)

    def celery(self):
        return [pid for pid in bench._pgid_members(self.worker_pgid)
                if bench._is_celery(pid)]

    def rss(self, key='VmRSS'):
        """The largest worker process's ``key``, bytes."""
        return max(bench._status_kib(pid, key) * 1024
                   for pid in self.celery())

    def submit(self, name, disk_format, label):
        args = {'project': self.stack.project_ids['demo'],
                'user': self.stack.user_ids['demo'],
                'token': self.glance.token, 'glance': self.stack.glance_url,
                'url': self.url(name), 'disk_format': disk_format,
                'expected_checksum': '',
                'name': 'hii-hostile-%s' % label}
        self.submitter.stdin.write(json.dumps(args) + '\n')
        self.submitter.stdin.flush()
        return self.submitter.stdout.readline().strip()

    def cancel(self, job_id):
        subprocess.run(bench.probe_command(self.instance, 'cancel', job_id),
                       env=self.instance.env(), cwd=str(bench.ROOT),
                       check=True)

    def wait(self, job_id, done, timeout=600):
        deadline = time.monotonic() + timeout
        while True:
            row = self._job_row(job_id)
            if done(row):
                return row
            if time.monotonic() > deadline:
                raise bench.BenchError('job %s still %s' % (job_id,
                                                            row['state']))
            time.sleep(0.1)

    def images_named(self, name):
        found = self.glance.call('GET', '/v2/images?name=%s' % name)
        return found['images']

    def run_case(self, key, name, disk_format, expected):
        for pid in self.celery():
            try:  # reset VmHWM, so it holds this job's peak
                Path('/proc/%d/clear_refs' % pid).write_text('5')
            except OSError:
                pass
        began = time.monotonic()
        job_id = self.submit(name, disk_format, key)
        if expected == 'cancelled':
            self.wait(job_id, lambda r: r['state'] == 'downloading')
            time.sleep(3)       # the receive is waiting by now
            began = time.monotonic()
            self.cancel(job_id)
            row = self.wait(job_id, lambda r: r['state'] == 'cancelled' and
                            not r['lease_owner'])
            outcome = 'cancelled'
        else:
            row = self.wait(job_id, lambda r: r['state'] in (
                'active', 'failed', 'cancelled'))
            outcome = row['error_code'] or row['state']
        seconds = time.monotonic() - began
        peak = self.rss('VmHWM')
        return {'case': key, 'outcome': outcome, 'expected': expected,
                'seconds': round(seconds, 2), 'worker_rss_peak': peak,
                'image_created': bool(row['image_id']),
                'images_left': len(self.images_named(
                    'hii-hostile-%s' % key))}


def mib(value):
    return '%.0f MiB' % (value / MIB)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--state', default=None,
                        help='where the stack and worker keep their state '
                             '(a new temp dir by default; kept on failure)')
    parser.add_argument('--cache', default=None,
                        help='where the hostile files are made once '
                             '(default: ~/.cache/horizon-image-importer/'
                             'bench-images)')
    args = parser.parse_args(argv)
    state = Path(args.state or tempfile.mkdtemp(prefix='hii-hostile-'))
    cache = Path(args.cache or stack_tool.cache_dir() / 'bench-images')
    make_files(cache / 'hostile')
    run = HostileBench(state, cache)
    results = []
    failed = False
    try:
        run.start()
        server = run.server
        server.faults['/hostile/trickle.qcow2'] = Fault(header_trickle=1.0)
        server.faults['/hostile/silent.qcow2'] = Fault(stall_after=MIB)
        time.sleep(2)
        at_rest = run.rss()
        for key, label, name, disk_format, expected in CASES:
            bench.log('%s: %s' % (key, label))
            result = run.run_case(key, name, disk_format, expected)
            result['label'] = label
            bench.log(json.dumps(result))
            results.append(result)
            failed |= (result['outcome'] != expected or
                       result['images_left'] != 0)
        after = run.rss()
    except Exception:
        failed = True
        raise
    finally:
        run.stop()
        if not failed:
            shutil.rmtree(state, ignore_errors=True)
        else:
            bench.log('state kept in %s' % state)
    print('| Input | Outcome | Seconds | Worker peak RSS | Image made |')
    print('|---|---|---:|---:|---|')
    for r in results:
        print('| %s | `%s` | %.1f | %s | %s |' % (
            r['label'], r['outcome'], r['seconds'],
            mib(r['worker_rss_peak']),
            'yes, deleted' if r['image_created'] else 'no'))
    print()
    print('Worker RSS at rest: %s before the first job, %s after the last.'
          % (mib(at_rest), mib(after)))
    print(json.dumps({'results': results, 'rss_at_rest': at_rest,
                      'rss_after': after}))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
