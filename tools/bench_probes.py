"""What the benchmarks run inside the dashboard's own Python.

Two kinds of code: commands that act on the job database as the dashboard
would (``python -m tools.bench_probes COMMAND``, run by the benchmarks
with the instance's settings and this checkout as the working folder),
and hooks the benchmarks add to an instance's settings (``settings_hook``)
that measure the job table's writes and a request's queries. Measurement
only: the importer's code is unchanged.

Commands:

- ``submit``: records a job from each JSON line on stdin, as a submit
  does, queues it and answers its id (tools/bench.py, bench_hostile.py).
- ``cancel JOB``: cancels a job as the dashboard's Cancel does.
- ``fake-jobs JSON``: records many jobs in every state at once, and
  prints the ids of those running or queued (tools/bench_web.py).
- ``time-progress N``: times N progress writes of a job, as JSON.
"""

import datetime
import json
import os
import sys
import threading
import time
import uuid

MIB = 1024 * 1024
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HOOK = '''
import sys as _hii_sys
_hii_sys.path.insert(0, {root!r})
from tools import bench_probes as _hii_probes  # noqa: E402
_hii_probes.{hook}({directory!r})
'''


def settings_hook(hook, directory):
    """Settings text that runs ``hook(directory)`` (``time_job_writes``
    or ``instrument``) when the instance's settings load."""
    return HOOK.format(root=ROOT, hook=hook, directory=str(directory))


# -- commands -----------------------------------------------------------------

def submit():
    from image_importer import crypto
    from image_importer.models import ImportJob
    from image_importer.worker import tasks

    for line in sys.stdin:
        args = json.loads(line)
        job = ImportJob.objects.create(
            project_id=args['project'], user_id=args['user'],
            user_name='demo', image_name=args['name'],
            source_url=args['url'], disk_format=args['disk_format'],
            glance_endpoint=args['glance'],
            expected_checksum=args['expected_checksum'],
            auth_token=crypto.encrypt(args['token']))
        tasks.enqueue(job.pk)
        print(job.pk.hex, flush=True)


def cancel(job_id):
    from image_importer import jobs
    from image_importer.models import ImportJob

    jobs.cancel(ImportJob.objects.get(pk=job_id))


def fake_jobs(text):
    from django.utils import timezone

    from image_importer.models import ImportJob

    args = json.loads(text)
    now = timezone.now()
    special = ['downloading', 'converting', 'uploading', 'queued', 'queued']
    cycle = ['active'] * 7 + ['failed', 'failed', 'cancelled']
    made, polled = [], []
    for index in range(args['count']):
        state = special[index] if index < len(special) else cycle[index % 10]
        job = _fake_job(ImportJob, args, index, state, now)
        if state in ImportJob.RUNNING or state == 'queued':
            polled.append(str(job.id))
        made.append(job)
    ImportJob.objects.bulk_create(made, batch_size=200)
    print(json.dumps(polled))


def _fake_job(model, args, index, state, now):
    created = now - datetime.timedelta(minutes=5 * index + 1)
    start = created + datetime.timedelta(seconds=2)
    job = model(
        id=uuid.uuid4(), project_id=args['project'], user_id=args['user'],
        user_name='demo', image_name=args['name'] % index,
        source_url='%s/%s.qcow2' % (args['url'], args['name'] % index),
        glance_endpoint=args['glance'], state=state, created_at=created,
        updated_at=created, disk_format=('raw' if index % 3 == 0 else ''),
        architecture='x86_64')
    if state in model.RUNNING:
        job.phases = [{'phase': 'downloading', 'start': start.isoformat()}]
        job.phase_started_at = now - datetime.timedelta(seconds=40)
        job.bytes_total = 2048 * MIB
        job.bytes_done = (300 + 100 * index) * MIB
        job.lease_owner = job.worker = 'bench-web:0'
        job.attempts = 1
        # Far off, so that no sweeper takes these jobs back.
        job.lease_expires = now + datetime.timedelta(days=1)
        job.updated_at = now
    elif state != 'queued':
        end = start + datetime.timedelta(seconds=30)
        job.phases = [{'phase': 'downloading', 'start': start.isoformat(),
                       'end': end.isoformat(), 'bytes': 512 * MIB}]
        job.finished_at = end
        job.attempts = 1
    if state == 'active':
        job.source_format = 'qcow2'
        job.image_id = str(uuid.uuid4())
        job.image_size = job.bytes_done = job.bytes_total = 512 * MIB
        job.virtual_size = 2048 * MIB
        job.checksums = {'sha256': '0' * 64}
    elif state == 'failed':
        job.error_code = 'http_status'
        job.error_params = {'status': 404, 'reason': 'Not Found'}
    return job


def time_progress(count):
    from django.utils import timezone

    from image_importer.models import ImportJob

    job = ImportJob.objects.create(
        project_id='bench-web-probe', user_id='bench', image_name='probe',
        source_url='http://127.0.0.1/probe',
        glance_endpoint='http://127.0.0.1', state=ImportJob.DOWNLOADING,
        lease_owner='bench-web-probe:0', phase_started_at=timezone.now())
    durations = []
    try:
        for index in range(int(count)):
            start = time.perf_counter()
            job.record_progress(index * MIB, 256 * MIB, 300)
            durations.append(time.perf_counter() - start)
    finally:
        ImportJob.objects.filter(pk=job.pk).delete()
    print(json.dumps(durations))


COMMANDS = {'submit': submit, 'cancel': cancel, 'fake-jobs': fake_jobs,
            'time-progress': time_progress}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    import django
    django.setup()
    COMMANDS[argv[0]](*argv[1:])


# -- settings hooks -----------------------------------------------------------

def _dump(path, value):
    with open(path + '.tmp', 'w') as out:
        json.dump(value, out)
    os.replace(path + '.tmp', path)


def _is_job_update(sql):
    return sql.startswith('UPDATE') and 'image_importer_importjob' in sql


def time_job_writes(directory):
    """In each process: count and time every UPDATE of the job table
    (progress, phase changes, lease renewals) with each write's time and
    whether it was a progress write (no state change), into
    ``directory/writes-PID.json``."""
    from django.db.backends import utils

    execute = utils.CursorWrapper.execute
    totals = {'seconds': 0.0, 'count': 0, 'writes': []}

    def timed(self, sql, params=None):
        if not _is_job_update(sql):
            return execute(self, sql, params)
        start = time.perf_counter()
        try:
            return execute(self, sql, params)
        finally:
            seconds = time.perf_counter() - start
            totals['seconds'] += seconds
            totals['count'] += 1
            totals['writes'].append(
                [seconds, '"state" =' not in sql.split(' WHERE ')[0]])
            _dump(os.path.join(directory, 'writes-%d.json' % os.getpid()),
                  totals)

    utils.CursorWrapper.execute = timed


def instrument(directory):
    """In the worker (``celery``): ``time_job_writes``. In the web server:
    count the SQL queries of a request that carries the header
    ``X-HII-Bench-Queries: NAME`` into ``directory/queries-NAME.json``;
    other requests only pay a thread-local check per query."""
    if os.path.basename(sys.argv[0]) == 'celery':
        time_job_writes(directory)
        return
    from django.core import signals
    from django.db.backends import utils

    execute = utils.CursorWrapper.execute
    executemany = utils.CursorWrapper.executemany
    local = threading.local()

    def started(sender, environ=None, **kwargs):
        name = (environ or {}).get('HTTP_X_HII_BENCH_QUERIES', '')
        local.name = ''.join(c for c in name if c.isalnum() or c in '_-')
        local.queries = []

    def finished(sender, **kwargs):
        if getattr(local, 'name', ''):
            _dump(os.path.join(directory, 'queries-%s.json' % local.name),
                  local.queries)
        local.name = ''

    def counted(self, sql, params=None):
        if getattr(local, 'name', ''):
            local.queries.append(sql[:200])
        return execute(self, sql, params)

    def counted_many(self, sql, param_list):
        if getattr(local, 'name', ''):
            local.queries.append(sql[:200])
        return executemany(self, sql, param_list)

    utils.CursorWrapper.execute = counted
    utils.CursorWrapper.executemany = counted_many
    signals.request_started.connect(started, weak=False)
    signals.request_finished.connect(finished, weak=False)


if __name__ == '__main__':
    main()
