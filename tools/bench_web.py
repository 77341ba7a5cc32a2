"""Web-side benchmark on the real local stack.

Run from the Horizon virtualenv (``tools/test`` makes it)::

    ~/.cache/horizon-image-importer/venv-horizon/bin/python \
        tools/bench_web.py [--jobs 1000] [--runs 20] [--warmup 3] \
        [--image-size 256M] [--servers runserver,gunicorn] \
        [--stack-info STATE/stack.json]

Starts its own Keystone + Glance (free ports, a temp state dir; or uses the
running ones ``tools/stack.py up`` describes in ``--stack-info``), a loopback
file server and Horizon with the plugin (``tools.dashboard.Dashboard``:
DEBUG off, offline-compressed assets, jobs on a trust to the importer's
service user, as in the demo). It records ``--jobs`` jobs of the demo
project straight into the job database (newest first: three running, two
queued, then 70% active, 20% failed, 10% cancelled; none is sent to the
broker, and no worker runs meanwhile), logs in through Horizon's login form
over plain HTTP (demo/demo and admin/admin, domain Default) and times, as
the browser asks for them:

- the project table (``GET /project/image_imports/``; one page of
  ``API_RESULT_PAGE_SIZE`` rows, 20 by default);
- a row update (the DataTable's ``?action=row_update`` ajax request for a
  running or queued row, as its poller sends it);
- a submit (the Import Image workflow's POST, as the modal sends it, until
  the job row exists; at most one a second, as a person submits; each
  submitted job is then marked cancelled in the database, so the queued
  limit never refuses the next one);
- the admin table (``GET /admin/image_imports/``, every project's jobs);
- opening the Import Image modal (no target; for context);
- Horizon's own API Access page (``GET /project/api_access/``, no target:
  what any page of this Horizon costs here, its menus and the Keystone
  project list of the project picker included).

Each after ``--warmup`` requests, ``--runs`` times, under Django's
``runserver`` (what the demo runs) and, when gunicorn can be found (the
Horizon virtualenv, else the Keystone one's, whose package is put on the
path: it is pure Python), under gunicorn with 2 gthread workers. Times are
wall-clock from sending the request to reading the whole response, on
loopback. One extra request of each kind then counts its SQL queries.

Last, the progress-write cost: the worker is started, the fake running and
queued jobs are marked failed, one image of ``--image-size`` (a qcow2 whose
first half is random, as the demo's sample) is imported through the
workflow, and the share of the import's running time (claim to active)
spent writing progress is ``writes x median write / running time``, where
``writes`` counts the job-row UPDATEs the worker made (progress, phases,
lease) and the median write comes from timing ``ImportJob.record_progress``
200 times on the same database; the writes' own time, measured in the
worker, is shown too, and the verdict takes the larger share.

Prints a markdown table (target, median, p90, PASS or MISSED) and one JSON
line. The exit status is 1 only if a measurement failed (not for a missed
target); the state dir (logs) is then kept.
"""

import argparse
import http.client
import json
import math
import os
from pathlib import Path
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import bench as bench_tool  # noqa: E402
from tools import bench_probes  # noqa: E402
from tools import dashboard as dashboard_tool  # noqa: E402
from tools.fileserver import FileServer  # noqa: E402
from tools import images  # noqa: E402
from tools import stack as stack_tool  # noqa: E402
from tools import webclient  # noqa: E402
from tools.webclient import _snippet  # noqa: E402
from tools.webclient import Client  # noqa: E402

MIB = 1024 * 1024
TABLE = 'image_imports'
INDEX = webclient.INDEX
HORIZON_PAGE = '/project/api_access/'
CREATE = webclient.CREATE
ADMIN_INDEX = '/admin/image_imports/'
FAKE_NAME = 'bench-web-%04d'
ROW_RE = re.compile(r'<tr[^>]*\bdata-object-id="([^"]+)"')
TARGETS = (
    # (key, label, limit in seconds)
    ('index', 'project table, %s jobs, median', 0.300),
    ('row_update', 'row update, median', 0.050),
    ('submit', 'submit, median', 0.200),
    ('admin_index', 'admin table, %s jobs, median', 0.300),
)
PROGRESS_TARGET = 0.01
# Seconds between the starts of two submits (not timed).
SUBMIT_GAP = 1.1
# The importer's default PROGRESS_INTERVAL (image_importer.conf), which
# the bench keeps.
PROGRESS_INTERVAL = 1.0

BenchError = bench_tool.BenchError


def log(message):
    print('bench-web: ' + message, file=sys.stderr, flush=True)


def stats(values):
    """Median, 90th percentile (nearest rank), min and max, in seconds."""
    ordered = sorted(values)
    return {
        'median_s': statistics.median(ordered),
        'p90_s': ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)],
        'min_s': ordered[0], 'max_s': ordered[-1], 'n': len(ordered),
    }


# ---------------------------------------------------------------- instance

class Instance(dashboard_tool.Dashboard):
    """The demo's Dashboard, whose worker starts only when asked
    (``start()`` serves the web alone while the fake jobs are measured)."""

    worker_wanted = False

    def start_worker(self, name='importer', concurrency=2):
        if self.worker_wanted:
            super().start_worker(name, concurrency)

    def start_gunicorn(self, port, workers=2, path=None, timeout=60):
        """Horizon under gunicorn (gthread) on ``port``; ``path`` is put
        on PYTHONPATH when gunicorn lives in another virtualenv."""
        env = self.env()
        if path:
            env['PYTHONPATH'] = str(path)
        log = open(self.state / 'logs' / 'gunicorn.log', 'ab')
        self.procs['gunicorn'] = subprocess.Popen(
            [self.python, '-m', 'gunicorn', '--bind', '127.0.0.1:%d' % port,
             '--workers', str(workers), '--worker-class', 'gthread',
             '--threads', '4', '--timeout', '120', '--graceful-timeout', '5',
             '--no-control-socket', 'openstack_dashboard.wsgi:application'],
            env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=str(self.state))
        log.close()
        url = 'http://127.0.0.1:%d' % port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs['gunicorn'].poll() is not None:
                raise BenchError('gunicorn exited; see %s'
                                 % (self.state / 'logs' / 'gunicorn.log'))
            try:
                connection = http.client.HTTPConnection('127.0.0.1', port,
                                                        timeout=5)
                connection.request('GET', '/auth/login/')
                if connection.getresponse().status == 200:
                    connection.close()
                    return url
                connection.close()
            except OSError:
                pass
            time.sleep(0.3)
        raise BenchError('gunicorn did not answer on %s' % url)

    def stop_gunicorn(self):
        self._stop('gunicorn')


def find_gunicorn(python, shim_dir):
    """(how, PYTHONPATH or None) to run gunicorn with ``python``; None if
    there is no gunicorn to use."""
    found = subprocess.run([python, '-c', 'import gunicorn'],
                           capture_output=True)
    if found.returncode == 0:
        return 'horizon venv', None
    for package in stack_tool.venv_dir('keystone').glob(
            'lib/python*/site-packages/gunicorn'):
        shim_dir.mkdir(parents=True, exist_ok=True)
        link = shim_dir / 'gunicorn'
        if not link.exists():
            link.symlink_to(package)
        check = subprocess.run(
            [python, '-c', 'import gunicorn.app.wsgiapp'],
            capture_output=True, env=dict(os.environ,
                                          PYTHONPATH=str(shim_dir)))
        if check.returncode == 0:
            return 'keystone venv', shim_dir
    return None


# ---------------------------------------------------------------- bench

class RunningStack:
    """A Keystone + Glance already running, from the ``stack.json`` that
    ``tools/stack.py up`` writes (or ``Stack.info()``): the bench uses it
    and leaves it running."""

    def __init__(self, path):
        info = json.loads(Path(path).read_text())
        self.keystone_url = info['keystone_url']
        self.glance_url = info['glance_url']
        self.project_ids = info['projects']
        self.user_ids = {name: user['id']
                         for name, user in info['users'].items()}

    service_auth = stack_tool.Stack.service_auth

    def stop(self):
        pass


class Bench:

    def __init__(self, args, state):
        self.args = args
        self.state = state
        self.errors = []
        self.results = {}          # server -> measurement -> stats
        self.queries = {}          # measurement -> SQL queries
        self.rows = {}             # measurement -> rows rendered
        self.progress = None
        self.server_notes = {}
        self.stack = self.files = self.instance = None
        self.polled = []

    # -- setup

    def start(self):
        samples = self.state / 'samples'
        samples.mkdir()
        images.make_qcow2(str(samples), 'submit.qcow2')
        self.files = FileServer(samples).__enter__()
        if self.args.stack_info:
            self.stack = RunningStack(self.args.stack_info)
        else:
            self.stack = stack_tool.started(self.state / 'stack', say=log)
        dash_state = self.state / 'dashboard'
        dash_state.mkdir()
        self.instance = Instance(
            sys.prefix, dash_state, self.stack.keystone_url,
            port=stack_tool.free_port(),
            url_allowlist=['127.0.0.1:%d' % self.files.port],
            importer={'SERVICE_AUTH': self.stack.service_auth()},
            extra_settings=bench_probes.settings_hook('instrument',
                                                      dash_state))
        self.instance.prepare()
        self.database = str(dash_state / 'horizon.sqlite3')
        began = time.monotonic()
        self.polled = json.loads(self._django('fake-jobs', json.dumps({
            'count': self.args.jobs, 'name': FAKE_NAME,
            'project': self.stack.project_ids['demo'],
            'user': self.stack.user_ids['demo'],
            'glance': self.stack.glance_url,
            'url': self.files.url().rstrip('/')})))
        log('%d jobs recorded in %.1f s' % (self.args.jobs,
                                            time.monotonic() - began))
        self.instance.start()

    def stop(self):
        if self.instance:
            self.instance.stop()
        if self.stack:
            self.stack.stop()
        if self.files:
            self.files.__exit__(None, None, None)

    def _django(self, *args):
        result = subprocess.run(
            bench_tool.probe_command(self.instance, *args),
            env=self.instance.env(), capture_output=True, text=True,
            cwd=str(bench_tool.ROOT))
        if result.returncode:
            raise BenchError('a bench probe failed:\n%s'
                             % result.stderr[-2000:])
        return result.stdout.strip().splitlines()[-1]

    def _db(self, sql, params=()):
        with sqlite3.connect(self.database, timeout=30) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(sql, params).fetchall()
        return rows

    # -- web

    def clients(self, url):
        demo = Client(url)
        demo.login('demo', stack_tool.USERS['demo'][0], INDEX)
        admin = Client(url)
        admin.login('admin', stack_tool.USERS['admin'][0], ADMIN_INDEX)
        return demo, admin

    def measure_web(self, server, url, warmup):
        demo, admin = self.clients(url)
        runs = self.args.runs
        found = self.results.setdefault(server, {})
        counter = iter(range(10 ** 6))

        def index(client, path, key):
            def call():
                status, _h, text, seconds = client.get(path)
                if status != 200:
                    raise BenchError('GET %s answered %d' % (path, status))
                self.rows[key] = len(ROW_RE.findall(text))
                return seconds
            return call

        def row_update():
            job_id = self.polled[next(counter) % len(self.polled)]
            path = '%s?%s' % (INDEX, urllib.parse.urlencode({
                'action': 'row_update', 'table': TABLE, 'obj_id': job_id}))
            status, _h, text, seconds = demo.get(path, ajax=True)
            if status != 200 or ROW_RE.findall(text) != [job_id]:
                raise BenchError('row update of %s answered %d: %s'
                                 % (job_id, status, _snippet(text)))
            return seconds

        def open_modal():
            status, _h, text, seconds = demo.get(CREATE, ajax=True)
            if status != 200 or 'id_source_url' not in text:
                raise BenchError('GET %s answered %d: %s'
                                 % (CREATE, status, _snippet(text)))
            return seconds

        def horizon_page():
            status, _h, text, seconds = demo.get(HORIZON_PAGE)
            if status != 200:
                raise BenchError('GET %s answered %d: %s'
                                 % (HORIZON_PAGE, status, _snippet(text)))
            return seconds

        last_submit = [0.0]

        def submit():
            # One submit a second at most, as from the modal: a user's
            # submits in the same second make Keystone refuse the second
            # trust (same expiry) and the importer ask again.
            time.sleep(max(0.0, last_submit[0] + SUBMIT_GAP -
                           time.monotonic()))
            last_submit[0] = time.monotonic()
            name = 'bench-web-submit-%s' % uuid.uuid4().hex[:12]
            seconds, job_id = self.submit(demo, name,
                                          self.files.url('submit.qcow2'))
            # Out of the queue, so the queued limit never refuses the next
            # submit; no worker runs, the message waits in the broker.
            with sqlite3.connect(self.database, timeout=30) as db:
                db.execute(
                    "UPDATE image_importer_importjob SET state = "
                    "'cancelled', finished_at = updated_at, auth_token = '' "
                    "WHERE id = ?", (job_id,))
            return seconds

        plan = (('index', index(demo, INDEX, 'index')),
                ('row_update', row_update),
                ('submit', submit),
                ('admin_index', index(admin, ADMIN_INDEX, 'admin_index')),
                ('open_modal', open_modal),
                ('horizon_page', horizon_page))
        for key, call in plan:
            for _ in range(warmup):
                call()
            found[key] = stats([call() for _ in range(runs)])
            log('%s %s: median %.1f ms, p90 %.1f ms' % (
                server, key, 1000 * found[key]['median_s'],
                1000 * found[key]['p90_s']))
        if not self.queries:
            self.count_queries(demo, admin)

    def submit(self, client, name, url):
        """POST the Import Image workflow as its modal does; (seconds until
        the answer, the job id). The job row exists when it answers."""
        body = {
            'csrfmiddlewaretoken': client.cookies.get('csrftoken', ''),
            'source_url': url, 'expected_checksum': '', 'checksum_url': '',
            'name': name, 'description': '', 'disk_format': '',
            'architecture': '', 'min_disk': '', 'min_ram': '',
            'visibility': 'private', 'metadata': '',
        }
        status, headers, text, seconds = client.post(CREATE, body, ajax=True)
        if status != 200 or not headers.get('X-Horizon-Location'):
            raise BenchError('the Import Image submit answered %d without '
                             'a redirect: %s' % (status, _snippet(text)))
        rows = self._db('SELECT id FROM image_importer_importjob WHERE '
                        'image_name = ?', (name,))
        if len(rows) != 1:
            raise BenchError('the submit answered, but %d job rows are '
                             'named %s' % (len(rows), name))
        return seconds, rows[0]['id']

    def count_queries(self, demo, admin):
        """SQL queries of one request of each kind (the web server writes
        them to queries-NAME.json)."""
        path = '%s?%s' % (INDEX, urllib.parse.urlencode({
            'action': 'row_update', 'table': TABLE,
            'obj_id': self.polled[0]}))
        for key, client, path in (('index', demo, INDEX),
                                  ('row_update', demo, path),
                                  ('admin_index', admin, ADMIN_INDEX)):
            client.get(path, ajax=key == 'row_update',
                       headers={'X-HII-Bench-Queries': key})
        name = 'bench-web-queries-%s' % uuid.uuid4().hex[:8]
        demo.post(CREATE, {
            'csrfmiddlewaretoken': demo.cookies.get('csrftoken', ''),
            'source_url': self.files.url('submit.qcow2'), 'name': name,
            'visibility': 'private'}, ajax=True,
            headers={'X-HII-Bench-Queries': 'submit'})
        self._db("UPDATE image_importer_importjob SET state = 'cancelled', "
                 "finished_at = updated_at WHERE image_name = ?", (name,))
        # The server writes each file once the response is sent, which
        # may be just after the client has read it.
        deadline = time.monotonic() + 10
        for key in ('index', 'row_update', 'submit', 'admin_index'):
            path = self.instance.state / ('queries-%s.json' % key)
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            try:
                self.queries[key] = len(json.loads(path.read_text()))
            except (OSError, ValueError):
                self.queries[key] = None

    def run_web(self):
        self.measure_web('runserver', self.instance.url, self.args.warmup)
        self.server_notes['runserver'] = (
            "Django runserver --insecure --noreload, threaded (as the demo)")
        if 'gunicorn' not in self.args.servers:
            return
        found = find_gunicorn(self.instance.python,
                              self.state / 'gunicorn-path')
        if found is None:
            self.server_notes['gunicorn'] = 'not measured: no gunicorn found'
            log('gunicorn not found; only runserver measured')
            return
        how, path = found
        workers = 2
        url = self.instance.start_gunicorn(stack_tool.free_port(), workers,
                                           path)
        try:
            # Each worker process warms up on its own.
            self.measure_web('gunicorn', url, self.args.warmup * workers)
        finally:
            self.instance.stop_gunicorn()
        self.server_notes['gunicorn'] = (
            'gunicorn (%s), %d gthread workers x 4 threads' % (how, workers))

    # -- progress writes

    def run_progress(self):
        """Import one image through the workflow with the worker running;
        the share of its running time spent writing the job row."""
        # No fake job may run or wait for a worker now.
        self._db("UPDATE image_importer_importjob SET state = 'failed', "
                 "error_code = 'internal_error', lease_owner = '', "
                 "lease_expires = NULL, finished_at = updated_at WHERE "
                 "state IN ('queued', 'downloading', 'converting', "
                 "'uploading')")
        samples = self.files.root
        images.make_qcow2(str(samples), 'import.qcow2',
                          size=self.args.image_size)
        self.instance.worker_wanted = True
        self.instance.start_worker()
        self._wait_worker_ready()
        demo = Client(self.instance.url)
        demo.login('demo', stack_tool.USERS['demo'][0], INDEX)
        before = self._writes()
        name = 'bench-web-import-%s' % uuid.uuid4().hex[:8]
        _s, job_id = self.submit(demo, name, self.files.url('import.qcow2'))
        deadline = time.monotonic() + 120 + self.args.image_size / (2 * MIB)
        while True:
            row = self._db('SELECT * FROM image_importer_importjob WHERE '
                           'id = ?', (job_id,))[0]
            if row['state'] in ('active', 'failed', 'cancelled'):
                break
            if time.monotonic() > deadline:
                raise BenchError('the import %s is still %s; see %s' % (
                    job_id, row['state'],
                    self.instance.state / 'logs' / 'worker.log'))
            time.sleep(0.2)
        if row['state'] != 'active':
            raise BenchError('the import %s ended %s: %s %s' % (
                job_id, row['state'], row['error_code'],
                row['error_params']))
        time.sleep(0.5)     # the write timer's file follows the UPDATE
        after = self._writes()
        phases = json.loads(row['phases'])
        running = (bench_tool.parse_time(row['finished_at']) -
                   bench_tool.parse_time(phases[0]['start'])).total_seconds()
        total = (bench_tool.parse_time(row['finished_at']) -
                 bench_tool.parse_time(row['created_at'])).total_seconds()
        writes = [write for name, found in after.items()
                  for write in found[len(before.get(name, ())):]]
        if not writes:
            raise BenchError('the worker wrote no progress; see %s'
                             % (self.instance.state / 'logs'))
        in_situ = sum(seconds for seconds, _progress in writes)
        progress_writes = [s for s, progress in writes if progress]
        probe = stats(json.loads(self._django('time-progress', '200')))
        share = len(writes) * probe['median_s'] / running
        self.progress = {
            'image_bytes': row['image_size'],
            'source_bytes': (samples / 'import.qcow2').stat().st_size,
            'virtual_bytes': self.args.image_size,
            'running_s': running, 'submit_to_active_s': total,
            'phases': [p['phase'] for p in phases],
            'progress_interval_s': PROGRESS_INTERVAL,
            'writes': len(writes), 'progress_writes': len(progress_writes),
            'write_probe': probe, 'writes_in_situ': stats(
                [seconds for seconds, _progress in writes]),
            'writes_in_situ_s': in_situ,
            'share': share, 'share_in_situ': in_situ / running,
        }
        log('import of %s: %.1f s running, %d job-row writes, median '
            'write %.2f ms, share %.3f%% (in situ %.3f%%)' % (
                name, running, len(writes), 1000 * probe['median_s'],
                100 * share, 100 * in_situ / running))
        # The image is not needed; the stack is thrown away.

    def _writes(self):
        """The worker's job-row UPDATEs so far: {pid: [[seconds,
        progress], ...]}."""
        found = {}
        for path in self.instance.state.glob('writes-*.json'):
            try:
                found[path.name] = json.loads(path.read_text())['writes']
            except (OSError, ValueError, KeyError):
                continue
        return found

    def _wait_worker_ready(self, timeout=120):
        bench_tool.wait_worker_ready(self.instance, timeout)


# ---------------------------------------------------------------- report

def verdicts(bench):
    """[{'target', 'server', 'limit_s' or 'limit', 'median', 'p90',
    'met'}]: every target that could be measured."""
    found = []
    jobs = '{:,}'.format(bench.args.jobs)
    for server, results in bench.results.items():
        for key, label, limit in TARGETS:
            if key not in results:
                continue
            result = results[key]
            found.append({
                'key': key, 'server': server,
                'target': '%s <= %d ms' % (
                    label % jobs if '%s' in label else label, limit * 1000),
                'limit_s': limit, 'median': result['median_s'],
                'p90': result['p90_s'],
                'met': result['median_s'] <= limit})
    if bench.progress:
        share = max(bench.progress['share'], bench.progress['share_in_situ'])
        found.append({
            'key': 'progress_share', 'server': 'worker',
            'target': 'progress writes < 1% of import time',
            'limit': PROGRESS_TARGET, 'median': share, 'p90': None,
            'met': share < PROGRESS_TARGET})
    return found


def report(bench, targets, command):
    lines = ['', '## Web-side targets', '',
             '`%s`' % command, '',
             '| target | server | median | p90 | verdict |',
             '| --- | --- | ---: | ---: | --- |']
    for target in targets:
        if target['key'] == 'progress_share':
            median = '%.3f%%' % (100 * target['median'])
            p90 = '-'
        else:
            median = '%.1f ms' % (1000 * target['median'])
            p90 = '%.1f ms' % (1000 * target['p90'])
        lines.append('| %s | %s | %s | %s | %s |' % (
            target['target'], target['server'], median, p90,
            'PASS' if target['met'] else 'MISSED'))
    for key, label in (('open_modal', 'open the Import Image modal'),
                       ('horizon_page', "Horizon's API Access page")):
        for server, results in bench.results.items():
            if key in results:
                lines.append('| (%s, no target) | %s | %.1f ms | %.1f ms '
                             '| - |' % (label, server,
                                        1000 * results[key]['median_s'],
                                        1000 * results[key]['p90_s']))
    lines.append('')
    lines.append('Rows rendered: %s; SQL queries per request: %s.' % (
        ', '.join('%s %s' % item for item in sorted(bench.rows.items())),
        ', '.join('%s %s' % item for item in sorted(bench.queries.items()))))
    for server, note in bench.server_notes.items():
        lines.append('- %s: %s' % (server, note))
    if bench.progress:
        p = bench.progress
        lines.append(
            '- progress writes: %d job-row UPDATEs (%d progress, the rest '
            'phase changes) in %.1f s of running import (%s MiB qcow2, %s '
            'MiB virtual, PROGRESS_INTERVAL %g s); record_progress timed '
            'alone: median %.2f ms, p90 %.2f ms; the worker\'s writes: '
            'median %.2f ms, max %.2f ms, %.1f ms in all; share %.3f%% '
            '(writes x median / running), %.3f%% measured in the worker'
            % (p['writes'], p['progress_writes'], p['running_s'],
               p['source_bytes'] // MIB, p['virtual_bytes'] // MIB,
               p['progress_interval_s'],
               1000 * p['write_probe']['median_s'],
               1000 * p['write_probe']['p90_s'],
               1000 * p['writes_in_situ']['median_s'],
               1000 * p['writes_in_situ']['max_s'],
               1000 * p['writes_in_situ_s'], 100 * p['share'],
               100 * p['share_in_situ']))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--jobs', type=int, default=1000,
                        help='fake jobs in the demo project (default 1000)')
    parser.add_argument('--runs', type=int, default=20,
                        help='timed requests of each kind (default 20)')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed requests first (default 3; under '
                             'gunicorn this many per worker)')
    parser.add_argument('--image-size', type=bench_tool.parse_size,
                        default=256 * MIB,
                        help='virtual size of the imported image '
                             '(default 256M)')
    parser.add_argument('--servers', default='runserver,gunicorn',
                        help='runserver, or runserver,gunicorn (default)')
    parser.add_argument('--stack-info', default=None,
                        help='use the Keystone + Glance described by this '
                             'stack.json (tools/stack.py up writes it) '
                             'instead of starting them')
    args = parser.parse_args(argv)
    # Stopped early (kill, a CI timeout), it still stops its stack.
    stack_tool.interrupt_on_signals()
    if args.jobs < 5 or args.runs < 1 or args.warmup < 0:
        parser.error('--jobs must be at least 5 and --runs at least 1')
    argv = sys.argv[1:] if argv is None else argv
    command = ' '.join(['tools/bench_web.py', *argv])
    state = Path(tempfile.mkdtemp(prefix='hii-bench-web-'))
    bench = Bench(args, state)
    began = time.monotonic()
    load = [os.getloadavg()[0]]
    try:
        bench.start()
        bench.run_web()
        bench.run_progress()
    except Exception as exc:
        bench.errors.append('%s: %s' % (type(exc).__name__, exc))
    finally:
        bench.stop()
        if bench.errors:
            bench.errors.append('logs kept in %s' % state)
        else:
            shutil.rmtree(state, ignore_errors=True)
    load.append(os.getloadavg()[0])
    targets = verdicts(bench)
    print(report(bench, targets, command))
    print('- load average (1 min) at start and end: %.2f, %.2f on %d CPUs'
          % (load[0], load[1], os.cpu_count()))
    if bench.errors:
        print('\nErrors:\n' + '\n'.join('- ' + e for e in bench.errors))
    print(json.dumps({
        'bench': 'web', 'command': command, 'jobs': args.jobs,
        'runs': args.runs, 'warmup': args.warmup,
        'results': bench.results, 'rows': bench.rows,
        'queries': bench.queries, 'servers': bench.server_notes,
        'progress': bench.progress, 'targets': targets,
        'loadavg': load, 'cpus': os.cpu_count(),
        'errors': bench.errors, 'ok': not bench.errors,
        'wall_s': round(time.monotonic() - began, 1)}))
    return 1 if bench.errors else 0


if __name__ == '__main__':
    sys.exit(main())
