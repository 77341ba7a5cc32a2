"""Many users at once: every job ends as it should, none lost or run twice.

Run from the Horizon virtualenv (``tools/test`` makes it)::

    ~/.cache/horizon-image-importer/venv-horizon/bin/python \
        tools/bench_load.py [--sessions 10] [--imports 100] [--seconds 60] \
        [--store sqlite|postgresql] [--broker URL] [--server runserver]

Starts its own Keystone + Glance (``tools/stack.py``, as the demo's), a
loopback file server of a small qcow2 and Horizon with the plugin and its
worker (``tools.dashboard.Dashboard``, as the demo runs them: the
defaults a single-host operator gets, jobs on a trust). ``--sessions``
browser sessions, half logged in as demo and half as alt (two projects),
submit ``--imports`` imports through the Import Image form, spread evenly
over ``--seconds``. Every ``--cancel-every``-th import is cancelled from
the table a moment after its submit, and retried from the table once it
is cancelled, as a user changing their mind would.

When every job has ended (or ``--timeout`` passed) it checks:

- every submit answered with the job made (a refusal, e.g. a queued
  limit, is counted and shown, not an error; an HTTP 5xx is);
- every job ended in the state it should: active, or cancelled for one
  whose cancel landed (its retry active); none left queued or running;
- Glance holds exactly one active image of each import that became
  active, and none of a cancelled one's (no job ran twice);
- every active job ran on its trust (deleted when it ended), and
  Keystone holds no trust afterwards;
- no "database is locked" in any log (Keystone, Glance, Horizon, the
  worker), no traceback in Horizon's or the worker's, and no request
  answered with a 5xx.

``--store postgresql`` puts the job store in a new PostgreSQL database on
127.0.0.1 (dropped at the end), ``--broker amqp://guest:guest@127.0.0.1//``
uses RabbitMQ instead of the embedded broker.

Prints a markdown summary (submit times, time until every job ended,
the checks) and one JSON line; the exit status is 1 when a check failed
(the state dir, with every log, is then kept).
"""

import argparse
import collections
import concurrent.futures
import json
import os
from pathlib import Path
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import bench as bench_tool  # noqa: E402
from tools import bench_web  # noqa: E402
from tools.fileserver import FileServer  # noqa: E402
from tools import images  # noqa: E402
from tools import stack as stack_tool  # noqa: E402

MIB = 1024 * 1024
INDEX = bench_web.INDEX
PROJECTS = ('demo', 'alt')
FINISHED = ('active', 'failed', 'cancelled')
# What must not be in the logs: Keystone's and Glance's (which log the
# conflicts they answer 409, expected, with a traceback), and Horizon's
# and the worker's.
STACK_PROBLEMS = ('database is locked',)
# What the importer logs when it deletes a job's trust.
TRUST_DELETED = re.compile(r'Deleted the trust of job ([0-9a-f-]{36})')
OUR_PROBLEMS = ('database is locked', 'Traceback')

BenchError = bench_tool.BenchError


def log(message):
    print('bench-load: ' + message, file=sys.stderr, flush=True)


def _form_errors(text):
    """What a form answered with in place of the job: its errors."""
    found = re.findall(r'class="[^"]*(?:alert-danger|error|help-block)'
                       r'[^"]*"[^>]*>\s*(?:<[^>]+>\s*)*([^<]+)', text)
    return ' | '.join(sorted({f.strip() for f in found if f.strip()}))[:300]


class JobStore:
    """Reads the job table, SQLite or PostgreSQL, as the bench's own
    client (never through the importer's code)."""

    def __init__(self, kind, where):
        self.kind, self.where = kind, where

    def rows(self, sql, params=()):
        if self.kind == 'sqlite':
            with sqlite3.connect(self.where, timeout=30) as db:
                return db.execute(sql, params).fetchall()
        import psycopg
        with psycopg.connect(self.where) as db:
            return db.execute(sql.replace('?', '%s'), params).fetchall()

    def job_of(self, name):
        found = self.rows('SELECT id FROM image_importer_importjob WHERE '
                          'image_name = ? ORDER BY created_at', (name,))
        # As the table names it (its row's data-object-id).
        return str(uuid.UUID(str(found[0][0]))) if found else None

    def jobs(self, prefix):
        return [dict(zip(('id', 'name', 'state', 'error', 'attempts',
                          'image', 'project'), row)) for row in self.rows(
            'SELECT id, image_name, state, error_code, attempts, image_id, '
            'project_id FROM image_importer_importjob WHERE image_name '
            'LIKE ? ORDER BY created_at', (prefix + '%',))]


class Load:

    def __init__(self, args, state):
        self.args = args
        self.state = state
        self.stack = self.files = self.slow_files = self.instance = None
        self.database = None
        self.store = None
        self.lock = threading.Lock()
        self.submits = []          # (seconds, outcome)
        self.fast_submits = []     # seconds, of a source served at once
        self.slow_submits = []     # seconds, of a slow source
        self.server_errors = []    # (method, path, status)
        self.cancels = {}          # name -> outcome of its cancel
        self.retries = {}          # name -> outcome of its retry
        self.checks = {}
        self.changes = {}
        self.drained_s = None
        self.prefix = 'load-%s-' % uuid.uuid4().hex[:6]

    # -- setup

    def start(self):
        samples = self.state / 'samples'
        samples.mkdir()
        images.make_qcow2(str(samples), 'disk.qcow2',
                          size=self.args.image_size)
        self.files = FileServer(samples).__enter__()
        # The imports a user will cancel come slowly (a few seconds each),
        # so that the cancel lands while they run, as a user's would.
        self.slow_files = FileServer(
            samples, rate=max(MIB, self.args.image_size // 4)).__enter__()
        self.stack = stack_tool.started(self.state / 'stack', say=log)
        dash = self.state / 'dashboard'
        dash.mkdir()
        importer = {'SERVICE_AUTH': self.stack.service_auth()}
        if self.args.broker:
            importer['BROKER_URL'] = self.args.broker
        extra = ''
        if self.args.store == 'postgresql':
            name = 'hii_load_%s' % uuid.uuid4().hex[:8]
            subprocess.run(['createdb', '-h', '127.0.0.1', '-U', 'postgres',
                            name], check=True)
            self.database = name
            extra = ("DATABASES = {'default': {"
                     "'ENGINE': 'django.db.backends.postgresql', "
                     "'NAME': %r, 'USER': 'postgres', "
                     "'HOST': '127.0.0.1'}}\n" % name)
            self.store = JobStore('postgresql', 'host=127.0.0.1 '
                                  'user=postgres dbname=%s' % name)
        else:
            self.store = JobStore('sqlite', str(dash / 'horizon.sqlite3'))
        self.instance = bench_web.Instance(
            sys.prefix, dash, self.stack.keystone_url,
            port=stack_tool.free_port(),
            url_allowlist=['127.0.0.1:%d' % self.files.port,
                           '127.0.0.1:%d' % self.slow_files.port],
            importer=importer, extra_settings=extra)
        self.instance.worker_wanted = True
        self.instance.prepare()
        self.instance.start()
        self.url = self.instance.url
        if self.args.server == 'gunicorn':
            found = bench_web.find_gunicorn(self.instance.python,
                                            self.state / 'shim')
            if found is None:
                raise BenchError('no gunicorn to run Horizon with')
            self.url = self.instance.start_gunicorn(
                stack_tool.free_port(), path=found[1])

    def stop(self):
        if self.instance:
            self.instance.stop()
        if self.stack:
            self.stack.stop()
        for files in (self.files, self.slow_files):
            if files:
                files.__exit__(None, None, None)
        if self.database:
            subprocess.run(['dropdb', '-h', '127.0.0.1', '-U', 'postgres',
                            '--if-exists', self.database])

    # -- the users

    def _call(self, client, method, path, body=None, ajax=False):
        status, headers, text, seconds = client.request(
            method, path, body=body, ajax=ajax)
        if status >= 500:
            with self.lock:
                self.server_errors.append((method, path, status))
        return status, headers, text, seconds

    def _submit(self, client, name):
        files = self.slow_files if self._is_cancelled(name) else self.files
        body = {
            'csrfmiddlewaretoken': client.cookies.get('csrftoken', ''),
            'source_url': files.url('disk.qcow2'),
            'expected_checksum': '', 'checksum_url': '', 'name': name,
            'description': '', 'disk_format': '', 'architecture': '',
            'min_disk': '', 'min_ram': '', 'visibility': 'private',
            'metadata': ''}
        status, headers, text, seconds = self._call(
            client, 'POST', bench_web.CREATE, body, ajax=True)
        if status == 200 and headers.get('X-Horizon-Location'):
            outcome = 'made'
        elif status == 200:
            outcome = 'refused: ' + _form_errors(text)
        else:
            outcome = 'HTTP %d' % status
        with self.lock:
            self.submits.append((seconds, outcome))
            # The form looks at the source before it answers: a slow one
            # (the imports to be cancelled) makes a slower submit.
            (self.slow_submits if files is self.slow_files else
             self.fast_submits).append(seconds)
        return outcome == 'made'

    def _table_action(self, client, action, job_id):
        status, _h, _t, _s = self._call(client, 'POST', INDEX, {
            'csrfmiddlewaretoken': client.cookies.get('csrftoken', ''),
            'action': 'image_imports__%s__%s' % (action, job_id)})
        return status

    def _change_mind(self, client, name):
        """Cancel the job a moment after its submit; retry it from the
        table once it is cancelled."""
        time.sleep(random.uniform(0.0, 0.5))
        job_id = self.store.job_of(name)
        if job_id is None:
            self.cancels[name] = 'no job'
            return
        self.cancels[name] = self._table_action(client, 'cancel', job_id)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = self.store.rows(
                'SELECT state FROM image_importer_importjob WHERE '
                'image_name = ? ORDER BY created_at', (name,))[0][0]
            if state in FINISHED:
                break
            time.sleep(0.2)
        if state == 'cancelled':
            self.retries[name] = self._table_action(client, 'retry', job_id)

    def session(self, index, names, gap, start_at):
        project = PROJECTS[index % len(PROJECTS)]
        client = bench_web.Client(self.url)
        client.login(project, stack_tool.USERS[project][0], INDEX)
        followers = []
        for number, name in enumerate(names):
            time.sleep(max(0.0, start_at + number * gap - time.monotonic()))
            if self._submit(client, name) and self._is_cancelled(name):
                follower = threading.Thread(target=self._change_mind,
                                            args=(client, name))
                follower.start()
                followers.append(follower)
        for follower in followers:
            follower.join()

    def _is_cancelled(self, name):
        every = self.args.cancel_every
        return every and int(name.rsplit('-', 1)[1]) % every == every - 1

    def run(self):
        args = self.args
        names = ['%s%03d' % (self.prefix, i) for i in range(args.imports)]
        by_session = [names[i::args.sessions] for i in range(args.sessions)]
        gap = args.seconds * args.sessions / max(1, args.imports)
        start_at = time.monotonic() + 5
        began = time.monotonic()
        spy = self._profile(args.seconds + 10)
        with concurrent.futures.ThreadPoolExecutor(args.sessions) as pool:
            futures = [pool.submit(self.session, i, mine,
                                   gap, start_at + i * gap / args.sessions)
                       for i, mine in enumerate(by_session)]
            for future in futures:
                future.result()
        if spy:
            spy.wait()
        log('%d submits in %.1f s' % (len(self.submits),
                                      time.monotonic() - start_at))
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            jobs = self.store.jobs(self.prefix)
            if all(job['state'] in FINISHED for job in jobs):
                break
            time.sleep(0.5)
        self.drained_s = time.monotonic() - began
        self.check(self.store.jobs(self.prefix))

    def _profile(self, seconds):
        """``py-spy record`` of Horizon's process while the users submit
        (``--profile FILE``: collapsed stacks, wall time, idle included)."""
        if not self.args.profile:
            return None
        server = self.instance.procs.get('gunicorn') or (
            self.instance.procs['horizon'])
        return subprocess.Popen(
            [shutil.which('py-spy') or os.path.join(sys.prefix, 'bin',
                                                    'py-spy'),
             'record', '--idle', '--subprocesses', '-r', '100',
             '-d', str(int(seconds)), '-f', 'raw', '-o', self.args.profile,
             '-p', str(server.pid)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)

    # -- the checks

    def _glance_images(self):
        token = self.stack.token('admin')
        found, url = [], '/v2/images?limit=1000'
        while url:
            _h, body = stack_tool._call('GET', self.stack.glance_url + url,
                                        token=token)
            found += [image for image in body['images']
                      if image['name'].startswith(self.prefix)]
            url = body.get('next')
        return found

    def check(self, jobs):
        made = sum(1 for _s, outcome in self.submits if outcome == 'made')
        states = collections.Counter(job['state'] for job in jobs)
        by_name = collections.defaultdict(list)
        for job in jobs:
            by_name[job['name']].append(job)
        wrong = []
        for name, named in by_name.items():
            first = named[0]
            if name in self.retries and first['state'] == 'cancelled':
                expected = ['cancelled', 'active']
            else:
                expected = ['active']
            got = [job['state'] for job in named]
            if got != expected:
                wrong.append('%s: %s, not %s (%s)' % (
                    name, got, expected,
                    ', '.join(job['error'] for job in named if job['error'])))
        images = self._glance_images()
        per_name = collections.Counter(image['name'] for image in images)
        active_per_name = collections.Counter(
            job['name'] for job in jobs if job['state'] == 'active')
        twice = sorted(name for name in set(per_name) | set(active_per_name)
                       if per_name[name] != active_per_name[name])
        not_active = sorted(image['name'] for image in images
                            if image['status'] != 'active')
        landed = sum(1 for name in self.cancels
                     if by_name.get(name) and
                     by_name[name][0]['state'] == 'cancelled')
        self.changes = {'cancels': len(self.cancels), 'landed': landed,
                        'retried': len(self.retries)}
        logs = {}
        for folder, problems in (('stack', STACK_PROBLEMS),
                                 ('dashboard', OUR_PROBLEMS)):
            for path in (self.state / folder / 'logs').glob('*.log'):
                text = path.read_text(errors='replace')
                for problem in problems:
                    if problem in text:
                        logs.setdefault(path.name, []).append(problem)
        self.checks = {
            'every submit made its job or was refused by a queued limit': (
                made + self._refused() == len(self.submits),
                '%d made, %d refused' % (made, self._refused())),
            'every job ended in the state it should': (
                not wrong and len(by_name) == made,
                '; '.join(wrong[:5]) or dict(states)),
            'one active image per active import, none left over': (
                not twice and not not_active,
                'different counts: %s; not active: %s' % (
                    twice[:5], not_active[:5]) if twice or not_active else
                '%d images' % len(images)),
            'no request answered with a 5xx': (
                not self.server_errors, self.server_errors[:5] or 'none'),
            'no "database is locked" or traceback in any log': (
                not logs, logs or 'none'),
            'every active job ran on a trust, none left in Keystone': (
                self._trusts(jobs)),
        }

    def _trusts(self, jobs):
        """(passed, detail): each active job's trust was deleted when it
        ended (the worker or Horizon says so), and Keystone holds none."""
        deleted = set()
        for path in (self.state / 'dashboard' / 'logs').glob('*.log'):
            deleted.update(TRUST_DELETED.findall(
                path.read_text(errors='replace')))
        active = {str(uuid.UUID(str(job['id']))) for job in jobs
                  if job['state'] == 'active'}
        without = sorted(active - deleted)
        _h, body = stack_tool._call(
            'GET', self.stack.keystone_url + '/OS-TRUST/trusts',
            token=self.stack.token('admin'))
        left = len(body['trusts'])
        return (not without and not left,
                '%d of %d active jobs had no trust deleted; %d trusts left '
                'in Keystone' % (len(without), len(active), left))

    def _refused(self):
        """Submits the queued limits refused, with their message (any
        other refusal is a fault)."""
        return sum(1 for _s, outcome in self.submits
                   if outcome.startswith('refused') and
                   'waiting to start' in outcome)


def report(load, command):
    seconds = [s for s, _outcome in load.submits]
    lines = ['`%s`: %d browser sessions (%s), %d imports of a %d MiB '
             'qcow2 over %d s, every %s-th cancelled and retried; job '
             'store %s, broker %s, Horizon under %s.' % (
                 command, load.args.sessions, ' and '.join(PROJECTS),
                 load.args.imports, load.args.image_size // MIB,
                 load.args.seconds, load.args.cancel_every or 'no',
                 load.args.store, load.args.broker or 'embedded',
                 load.args.server), '']
    if seconds:
        timing = bench_web.stats(seconds)
        lines.append('Submit (POST until the job exists): median %.0f ms, '
                     'p90 %.0f ms, max %.0f ms; every job ended %.1f s '
                     'after the first submit.' % (
                         1000 * timing['median_s'], 1000 * timing['p90_s'],
                         1000 * timing['max_s'], load.drained_s or 0))
        for label, found in (('served at once', load.fast_submits),
                             ('served slowly (to be cancelled)',
                              load.slow_submits)):
            if found:
                timing = bench_web.stats(found)
                lines.append('- of a source %s: median %.0f ms, p90 %.0f '
                             'ms (%d)' % (label, 1000 * timing['median_s'],
                                          1000 * timing['p90_s'],
                                          len(found)))
        lines.append('')
    changes = load.changes or {'cancels': 0, 'landed': 0, 'retried': 0}
    lines += ['%(cancels)d cancels sent, %(landed)d landed (the rest found '
              'the job ended), %(retried)d retried.' % changes, '',
              '| check | result | detail |', '| --- | --- | --- |']
    for check, (passed, detail) in load.checks.items():
        lines.append('| %s | %s | %s |' % (check, 'PASS' if passed else
                                           'FAILED', detail))
    refusals = collections.Counter(outcome for _s, outcome in load.submits
                                   if outcome != 'made')
    for outcome, count in refusals.items():
        lines.append('- %d x %s' % (count, outcome))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sessions', type=int, default=10)
    parser.add_argument('--imports', type=int, default=100)
    parser.add_argument('--seconds', type=float, default=60.0,
                        help='submits spread over this long (default 60)')
    parser.add_argument('--cancel-every', type=int, default=10,
                        help='cancel and retry every n-th import '
                             '(default 10; 0: none)')
    parser.add_argument('--image-size', type=bench_tool.parse_size,
                        default=4 * MIB)
    parser.add_argument('--store', choices=('sqlite', 'postgresql'),
                        default='sqlite')
    parser.add_argument('--broker', default=None,
                        help='a Celery broker URL (default: embedded)')
    parser.add_argument('--server', choices=('runserver', 'gunicorn'),
                        default='runserver')
    parser.add_argument('--profile', default=None,
                        help='write a py-spy profile of Horizon while the '
                             'users submit to this file')
    parser.add_argument('--keep', action='store_true',
                        help='keep the state dir (every log) even when '
                             'every check passed')
    parser.add_argument('--timeout', type=float, default=600.0,
                        help='seconds to wait for every job to end')
    args = parser.parse_args(argv)
    stack_tool.interrupt_on_signals()
    argv = sys.argv[1:] if argv is None else argv
    command = ' '.join(['tools/bench_load.py', *argv])
    state = Path(tempfile.mkdtemp(prefix='hii-bench-load-'))
    load = Load(args, state)
    errors = []
    began = time.monotonic()
    try:
        load.start()
        load.run()
    except Exception as exc:
        errors.append('%s: %s' % (type(exc).__name__, exc))
    finally:
        load.stop()
    failed = errors or not load.checks or not all(
        passed for passed, _detail in load.checks.values())
    if failed or args.keep:
        errors.append('logs kept in %s' % state)
    else:
        shutil.rmtree(state, ignore_errors=True)
    print(report(load, command))
    if errors:
        print('\nErrors:\n' + '\n'.join('- ' + e for e in errors))
    seconds = [s for s, _outcome in load.submits]
    print(json.dumps({
        'bench': 'load', 'command': command,
        'submit': bench_web.stats(seconds) if seconds else None,
        'submit_fast_source': (bench_web.stats(load.fast_submits)
                               if load.fast_submits else None),
        'drained_s': load.drained_s, 'changes': load.changes,
        'checks': {k: passed for k, (passed, _d) in load.checks.items()},
        'errors': errors, 'ok': not failed,
        'wall_s': round(time.monotonic() - began, 1)}, default=str))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
