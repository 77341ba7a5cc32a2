"""Several imports at once, against as many parallel PUTs into Glance.

Run from the Horizon virtualenv (``tools/test`` makes it)::

    ~/.cache/horizon-image-importer/venv-horizon/bin/python \
        tools/bench_parallel.py [--size 1G] [--counts 4,8] \
        [--cases qcow2,qcow2-raw] [--runs 1]

Starts what ``tools/bench.py`` starts (its own Keystone + Glance, a file
server of the bench image, the import worker with the defaults a
single-host operator gets: the worker's default concurrency, at most two
running jobs per project). For each count N and case it submits N imports
at once, spread over two projects (demo and alt), and times from the
first submit until every one is active in Glance; then N parallel PUTs of
the same final bytes into the same Glance (64 KiB chunks, as the importer
sends them), until every one is active. The ratio of the two is the
target (<= 1.15x). Every image is checked (active, size, Glance's
SHA-512) and deleted. Also shows, per project, when its last import
ended: no project waits on the other's.

Prints a markdown table and one JSON line; exit status 1 if a
measurement failed.
"""

import argparse
import concurrent.futures
import json
import os
from pathlib import Path
import shutil
import sqlite3
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import bench as bench_tool  # noqa: E402
from tools import stack as stack_tool  # noqa: E402

PROJECTS = ('demo', 'alt')
TARGET = 1.15

BenchError = bench_tool.BenchError


def log(message):
    print('bench-parallel: ' + message, file=sys.stderr, flush=True)


class Parallel(bench_tool.Bench):

    concurrency = None      # --concurrency: the worker's, if not its own
    max_running = None      # --max-running: MAX_RUNNING_PER_PROJECT

    def importer_settings(self):
        settings = super().importer_settings()
        if self.max_running is not None:
            settings['MAX_RUNNING_PER_PROJECT'] = self.max_running
        return settings

    def start(self):
        super().start()
        self.admin_glance = bench_tool.Glance(self.stack, user='admin')
        if self.concurrency:
            self.instance.stop_worker()
            (self.instance.state / 'logs' / 'worker.log').write_bytes(b'')
            self.instance.start_worker(concurrency=self.concurrency)
            bench_tool.wait_worker_ready(self.instance)

    def submit(self, case, count, run):
        """N jobs at once over the projects; their ids, in order."""
        _label, source, disk_format, _final = bench_tool.CASES[case]
        ids = []
        for index in range(count):
            user = PROJECTS[index % len(PROJECTS)]
            args = {'project': self.stack.project_ids[user],
                    'user': self.stack.user_ids[user],
                    'token': self.stack.token(user),
                    'glance': self.stack.glance_url,
                    'url': self.url(source), 'disk_format': disk_format,
                    'expected_checksum': '',
                    'name': self._name('parallel/%s-%d-%d' % (
                        case, count, index), run)}
            self.submitter.stdin.write(json.dumps(args) + '\n')
        self.submitter.stdin.flush()
        for _ in range(count):
            job_id = self.submitter.stdout.readline().strip()
            if not job_id:
                raise BenchError('the submitter gave no job id')
            ids.append(job_id)
        return ids

    def _rows(self, ids):
        with sqlite3.connect(self.database, timeout=20) as db:
            db.row_factory = sqlite3.Row
            return [db.execute('SELECT * FROM image_importer_importjob '
                               'WHERE id = ?', (job_id,)).fetchone()
                    for job_id in ids]

    def importer_at_once(self, case, count, run):
        final = bench_tool.CASES[case][3]
        began = time.perf_counter()
        ids = self.submit(case, count, run)
        deadline = time.monotonic() + count * self.timeout(self.size)
        while True:
            rows = self._rows(ids)
            if all(row['state'] in ('active', 'failed', 'cancelled')
                   for row in rows):
                break
            if time.monotonic() > deadline:
                raise BenchError('jobs still running: %s' % [
                    row['state'] for row in rows])
            time.sleep(0.1)
        seconds = time.perf_counter() - began
        failed = [row for row in rows if row['state'] != 'active']
        for row in rows:
            if row['image_id']:
                image = self.admin_glance.get(row['image_id'])
                self.admin_glance.delete(row['image_id'])
                if row['state'] == 'active':
                    self.check_image(image, final)
        if failed:
            raise BenchError('%d jobs ended %s' % (
                len(failed), sorted({row['error_code'] or row['state']
                                     for row in failed})))
        created = min(bench_tool.parse_time(row['created_at'])
                      for row in rows)
        ends = {}
        for index, row in enumerate(rows):
            project = PROJECTS[index % len(PROJECTS)]
            ended = (bench_tool.parse_time(row['finished_at']) -
                     created).total_seconds()
            ends[project] = max(ends.get(project, 0), ended)
        return {'seconds': seconds, 'project_ends_s': ends}

    def puts_at_once(self, case, count, run):
        final = bench_tool.CASES[case][3]
        name = bench_tool.FINAL_FILE[final]

        def one(index):
            image_id = self.glance.create(self._name(
                'parallel-put/%s-%d-%d' % (case, count, index), run), final)
            try:
                self.glance.put_file(image_id, self.source(name),
                                     self.floor_piece)
                image = self.glance.wait_active(image_id, 120)
            finally:
                self.glance.delete(image_id)
            self.check_image(image, final)

        began = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            list(pool.map(one, range(count)))
        return {'seconds': time.perf_counter() - began}

    def cpu(self):
        """CPU seconds so far (user + system) of Glance, of the worker's
        processes, and of this process (its file server's threads, or
        the PUTs' client threads)."""
        worker = sum(bench_tool._cpu_seconds(pid) for pid in
                     bench_tool._pgid_members(self.worker_pgid))
        own = os.times()
        return {'glance': self.glance_cpu(), 'worker': worker,
                'bench': own.user + own.system}

    def measure_cpu(self, func, case, count, run):
        before = self.cpu()
        record = func(case, count, run)
        after = self.cpu()
        record['cpu_s'] = {key: after[key] - before[key] for key in after}
        return record

    def run_parallel(self, counts, cases):
        for run in range(self.runs):
            for count in counts:
                for case in cases:
                    for kind, func in (('importer', self.importer_at_once),
                                       ('puts', self.puts_at_once)):
                        self.measure('%s/%s/%d' % (kind, case, count),
                                     self.measure_cpu, func, case, count,
                                     run)


def report(bench, counts, cases, command):
    lines = ['`%s`: a %s disk image (first half random, second half '
             'zeros), N imports submitted at once over two projects, '
             'against N parallel PUTs of the same final bytes; medians of '
             '%d run(s).' % (command, bench_tool.size_label(bench.size),
                             bench.runs), '',
             '| N | outcome | importer, all active | N parallel PUTs | '
             'importer / PUTs | last end per project (demo, alt) | '
             'verdict |',
             '| ---: | --- | ---: | ---: | ---: | --- | --- |']
    verdicts = {}
    for count in counts:
        for case in cases:
            mine = [r for r in bench.records.get(
                'importer/%s/%d' % (case, count), []) if 'error' not in r]
            puts = [r for r in bench.records.get(
                'puts/%s/%d' % (case, count), []) if 'error' not in r]
            if not mine or not puts:
                continue
            importer = bench_tool.median([r['seconds'] for r in mine])
            floor = bench_tool.median([r['seconds'] for r in puts])
            ratio = importer / floor
            ends = mine[-1]['project_ends_s']
            verdicts['%s/%d' % (case, count)] = ratio
            lines.append('| %d | %s | %.2f s | %.2f s | %.2fx | %s | %s |' % (
                count, bench_tool.CASES[case][0], importer, floor, ratio,
                ', '.join('%.1f s' % ends[p] for p in PROJECTS if p in ends),
                'PASS' if ratio <= TARGET else 'MISSED'))
    lines.append('')
    lines.append('CPU seconds (user + system) of each measurement: Glance, '
                 'the worker, the bench process (the file server serving '
                 'the imports; the client sending the PUTs), and in all:')
    lines.append('')
    for key, records in sorted(bench.records.items()):
        done = [r for r in records if 'cpu_s' in r]
        if done:
            cpu = done[-1]['cpu_s']
            lines.append('- %s: %.1f + %.1f + %.1f = %.1f s' % (
                key, cpu['glance'], cpu['worker'], cpu['bench'],
                sum(cpu.values())))
    return '\n'.join(lines), verdicts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=bench_tool.parse_size,
                        default=bench_tool.parse_size('1G'))
    parser.add_argument('--counts', default='4,8')
    parser.add_argument('--cases', default='qcow2,qcow2-raw')
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--concurrency', type=int, default=None,
                        help="the worker's --concurrency (default: the "
                             "demo's and the systemd unit's, 2)")
    parser.add_argument('--max-running', type=int, default=None,
                        help='MAX_RUNNING_PER_PROJECT (default: its '
                             'default)')
    parser.add_argument('--cache', default=None,
                        help='where the bench images are kept between '
                             'runs (default: a temp folder)')
    args = parser.parse_args(argv)
    stack_tool.interrupt_on_signals()
    counts = [int(n) for n in args.counts.split(',')]
    cases = args.cases.split(',')
    for case in cases:
        if case not in bench_tool.CASES:
            parser.error('unknown case %r' % case)
    argv = sys.argv[1:] if argv is None else argv
    command = ' '.join(['tools/bench_parallel.py', *argv])
    state = Path(tempfile.mkdtemp(prefix='hii-bench-parallel-'))
    cache = Path(args.cache) if args.cache else state / 'images'
    bench = Parallel(args.size, args.runs, state, cache)
    bench.concurrency = args.concurrency
    bench.max_running = args.max_running
    errors = []
    began = time.monotonic()
    try:
        bench.prepare(args.size)
        bench.start()
        bench.run_parallel(counts, cases)
    except Exception as exc:
        errors.append('%s: %s' % (type(exc).__name__, exc))
    finally:
        bench.stop()
    errors += bench.failures
    if errors:
        errors.append('logs kept in %s' % state)
    else:
        shutil.rmtree(state, ignore_errors=True)
    table, verdicts = report(bench, counts, cases, command)
    print(table)
    print('- load average (1 min) at the end: %.2f on %d CPUs'
          % (os.getloadavg()[0], os.cpu_count()))
    if errors:
        print('\nErrors:\n' + '\n'.join('- ' + e for e in errors))
    print(json.dumps({
        'bench': 'parallel', 'command': command, 'size': args.size,
        'records': bench.records, 'ratios': verdicts, 'errors': errors,
        'ok': not errors, 'wall_s': round(time.monotonic() - began, 1)}))
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
