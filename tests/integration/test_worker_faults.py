"""Workers killed, two hosts, a database outage: production faults on the
real stack, a real RabbitMQ (a vhost of its own) and a real PostgreSQL
(a database of its own), with real Celery workers.

Two dashboard instances stand in for two hosts: each has its own work
folder, both share the job database and the queue. Leases are short (5 s)
so that a killed worker's job comes back quickly.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from tools import dashboard
from tools.faultproxy import FaultProxy
from tools.fileserver import FileServer
from tools import images
from tools import stack as stack_tool

pytestmark = pytest.mark.realstack

MiB = 1024 * 1024
# Hosts of one cluster share the key that encrypts the jobs' credentials.
FAST = {'LEASE_SECONDS': 5, 'PROGRESS_INTERVAL': 0.5, 'SWEEP_INTERVAL': 2,
        'REQUEUE_AFTER': 3,
        'ENCRYPTION_KEY': base64.urlsafe_b64encode(os.urandom(32)).decode()}

SUBMIT = '''
import django, json, sys
django.setup()
from image_importer import crypto
from image_importer.worker import tasks
from image_importer.models import ImportJob
args = json.loads(sys.argv[1])
job = ImportJob.objects.create(
    project_id=args['project'], user_id=args['user'],
    image_name=args['name'], disk_format=args['disk_format'],
    source_url=args['url'], glance_endpoint=args['glance'],
    auth_token=crypto.encrypt(args['token']))
tasks.enqueue(job.pk)
print(job.pk)
'''


@pytest.fixture(scope='module')
def database():
    """A PostgreSQL database of this module's own, dropped at the end."""
    name = 'hii_faults_%s' % uuid.uuid4().hex[:8]
    admin = dict(host='127.0.0.1', user='postgres', dbname='postgres',
                 autocommit=True)
    with psycopg.connect(**admin) as conn:
        conn.execute('CREATE DATABASE %s' % name)
    yield name
    with psycopg.connect(**admin) as conn:
        conn.execute('DROP DATABASE %s WITH (FORCE)' % name)


@pytest.fixture(scope='module')
def vhost():
    """A RabbitMQ vhost of this module's own, deleted at the end."""
    name = 'hii-faults-%s' % uuid.uuid4().hex[:8]
    subprocess.run(['rabbitmqctl', '-q', 'add_vhost', name], check=True)
    subprocess.run(['rabbitmqctl', '-q', 'set_permissions', '-p', name,
                    'guest', '.*', '.*', '.*'], check=True)
    yield name
    subprocess.run(['rabbitmqctl', '-q', 'delete_vhost', name], check=True)


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """Images served at 16 MiB/s, so each phase can be caught."""
    root = tmp_path_factory.mktemp('fault-samples')
    with FileServer(root, rate=16 * MiB) as server:
        yield server


def database_settings(name, port=5432):
    return '''
DATABASES = {'default': {
    'ENGINE': 'django.db.backends.postgresql', 'NAME': %r,
    'USER': 'postgres', 'HOST': '127.0.0.1', 'PORT': %d}}
''' % (name, port)


class Host:
    """One dashboard instance's worker: a host of the cluster."""

    def __init__(self, name, stack, source, state, database, vhost,
                 db_port=5432, **importer):
        self.name = name
        self.instance = dashboard.Dashboard(
            sys.prefix, state, stack.keystone_url,
            port=stack_tool.free_port(),
            url_allowlist=['127.0.0.1:%d' % source.port],
            importer=dict(FAST, BROKER_URL='amqp://guest:guest@127.0.0.1:'
                          '5672/%s' % vhost, **importer),
            extra_settings=database_settings(database, db_port))
        self.work_dir = state / 'work'
        self.instance.prepare()

    def start(self):
        # A worker a failed test left running is stopped, not orphaned.
        self.instance.stop_worker()
        self.instance.start_worker(name=self.name, concurrency=1)

    def kill(self):
        """SIGKILL every Celery process of this worker at once, as the
        kernel's OOM killer or a crash would; its qemu-img is left to its
        fate."""
        main = self.instance.procs.pop('worker')
        pids = [main.pid] + [pid for pid in descendants(main.pid)
                             if command(pid) not in CONVERTERS]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        main.wait()

    def stop(self):
        self.instance.stop()

    def left_behind(self):
        """What the host's work folder still holds."""
        if not self.work_dir.exists():
            return []
        return sorted(os.listdir(self.work_dir))


def descendants(pid):
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit() and parent(int(entry)) == pid:
            found += [int(entry)] + descendants(int(entry))
    return found


def parent(pid):
    try:
        with open('/proc/%d/stat' % pid) as stat:
            return int(stat.read().rsplit(')', 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def command(pid):
    try:
        with open('/proc/%d/comm' % pid) as comm:
            return comm.read().strip()
    except OSError:
        return None


# What converts: qemu-img to a file, qemu-nbd and nbdcopy into the upload.
CONVERTERS = ('qemu-img', 'qemu-nbd', 'nbdcopy')


def qemu_img_processes(*folders):
    """Converting processes (``CONVERTERS``) working on files under
    ``folders``."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or command(int(entry)) not in CONVERTERS:
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as cmdline:
                args = cmdline.read().decode(errors='replace')
        except OSError:
            continue
        if any(str(folder) in args for folder in folders):
            found.append(int(entry))
    return found


@pytest.fixture(scope='module')
def cluster(stack, source, database, vhost, tmp_path_factory):
    hosts = [Host(name, stack, source, tmp_path_factory.mktemp(name),
                  database, vhost) for name in ('host-a', 'host-b')]
    yield hosts
    for host in hosts:
        host.stop()


def submit(host, stack, url, name, disk_format=''):
    args = {'project': stack.project_ids['demo'],
            'user': stack.user_ids['demo'], 'token': stack.token('demo'),
            'glance': stack.glance_url, 'url': url, 'name': name,
            'disk_format': disk_format}
    return subprocess.run(
        [host.instance.python, '-c', SUBMIT, json.dumps(args)],
        env=host.instance.env(), check=True, capture_output=True,
        text=True).stdout.split()[-1]


def job_row(database, job_id):
    with psycopg.connect(host='127.0.0.1', user='postgres', dbname=database,
                         row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            'SELECT * FROM image_importer_importjob WHERE id = %s',
            (job_id,)).fetchone()


def wait_for(database, job_id, test, timeout=120, what=''):
    deadline = time.monotonic() + timeout
    while True:
        row = job_row(database, job_id)
        if test(row):
            return row
        assert row['state'] not in ('failed', 'cancelled'), (
            row['state'], row['error_code'], row['error_params'])
        assert time.monotonic() < deadline, 'waited for %s: %s' % (
            what, {k: row[k] for k in ('state', 'bytes_done', 'worker')})
        time.sleep(0.1)


def finished(row):
    return row['state'] == 'active'


def glance_images(demo_glance, name):
    return [i for i in demo_glance.images.list() if i.name == name]


def wait_until(test, timeout=15):
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


# Where to kill: the job's state, the disk format it converts to, the
# image, and whether converting processes run then: a download long enough
# to catch, with the upload it feeds; the same made raw as it arrives,
# feeding the upload; a slow conversion to a file (stream-optimized VMDK
# compresses); a conversion to raw of a large disk, which feeds the
# upload, read from the file by the worker itself, and one with
# compressed clusters, read through qemu-nbd and nbdcopy.
KILL_POINTS = {
    'downloading': ('downloading', '', lambda root, name: images.make_qcow2(
        root, name, size=96 * MiB), False),
    'uploading-as-it-arrives': (
        'downloading', 'raw', lambda root, name: images.make_qcow2(
            root, name, size=96 * MiB), False),
    'converting': ('converting', 'vmdk', lambda root, name: images.make_qcow2(
        root, name, size=256 * MiB), True),
    'uploading': ('converting', 'raw', lambda root, name:
                  images.make_sparse_qcow2(root, name, 384 * MiB,
                                           data=8 * MiB), False),
    'uploading-through-qemu': (
        'converting', 'raw', lambda root, name: images.make_sparse_qcow2(
            root, name, 384 * MiB, data=8 * MiB, compressed=True), True),
}


@pytest.mark.parametrize('phase', list(KILL_POINTS))
def test_worker_killed_mid_job_the_job_ends_on_another_host(
        cluster, stack, source, database, demo_glance, phase):
    host_a, host_b = cluster
    state, disk_format, make, processes = KILL_POINTS[phase]
    name = 'killed-while-%s' % phase
    make(str(source.root), name)
    host_a.start()
    job_id = submit(host_a, stack, source.url(name), name, disk_format)

    def caught(row):
        return (row['state'] == state and row['bytes_done'] > 4 * MiB and
                bool(qemu_img_processes(host_a.work_dir)) == processes)

    before = wait_for(database, job_id, caught, what=phase)
    host_a.kill()
    assert before['worker'].startswith('host-a@')
    # The kernel ends qemu-img with the worker that ran it.
    assert wait_until(lambda: not qemu_img_processes(host_a.work_dir))
    host_b.start()
    try:
        row = wait_for(database, job_id, finished, what='active')
        # The run removes its folder once the job is active.
        assert wait_until(lambda: host_b.left_behind() == []), \
            host_b.left_behind()
    finally:
        host_b.stop()

    assert row['worker'].startswith('host-b@') and row['attempts'] == 2
    [image] = glance_images(demo_glance, name)
    assert image.id == row['image_id'] and image.status == 'active'
    if phase.startswith('uploading'):
        # The image the killed run created took the data: no second one.
        assert image.id == before['image_id']
    # Host A's worker, started again, removes what the killed run left.
    assert host_a.left_behind() != []
    host_a.start()
    try:
        assert wait_until(lambda: host_a.left_behind() == []), \
            host_a.left_behind()
    finally:
        host_a.stop()
    demo_glance.images.delete(image.id)


def test_a_job_restarted_on_the_same_host_continues_its_download(
        cluster, stack, source, database, demo_glance):
    # Converted, so the download goes to the work file (an image kept as
    # it is goes to Glance, not to disk, and is downloaded again).
    host_a, _host_b = cluster
    name = 'resumed-download'
    path, _data = images.make_qcow2(str(source.root), name, size=96 * MiB)
    size = os.path.getsize(path)
    host_a.start()
    job_id = submit(host_a, stack, source.url(name), name, 'raw')
    wait_for(database, job_id,
             lambda row: row['bytes_done'] > size // 2, what='half')
    host_a.kill()
    requests_before = len(source.requests)
    host_a.start()
    try:
        row = wait_for(database, job_id, finished, what='active')
    finally:
        host_a.stop()

    assert row['attempts'] == 2
    again = [r for r in source.requests[requests_before:]
             if r[1] == '/' + name]
    assert len(again) == 1 and again[0][2] is not None
    resumed_at = int(again[0][2].split('=')[1].rstrip('-'))
    assert resumed_at > size // 2
    [image] = glance_images(demo_glance, name)
    assert image.disk_format == 'raw' and image.size == 96 * MiB
    demo_glance.images.delete(image.id)


def test_two_hosts_share_the_queue(cluster, stack, source, database,
                                   demo_glance):
    for host in cluster:
        host.start()
    try:
        jobs = []
        for n in range(4):
            name = 'shared-queue-%d' % n
            images.make_qcow2(str(source.root), name, size=32 * MiB)
            jobs.append(submit(cluster[0], stack, source.url(name), name))
        rows = [wait_for(database, job_id, finished) for job_id in jobs]
    finally:
        for host in cluster:
            host.stop()

    hosts = {row['worker'].split('@')[0] for row in rows}
    assert hosts == {'host-a', 'host-b'}
    assert all(row['attempts'] == 1 for row in rows)
    for host in cluster:
        assert host.left_behind() == []
    for row in rows:
        demo_glance.images.delete(row['image_id'])


def test_job_goes_on_through_a_database_outage(
        stack, source, database, vhost, demo_glance, tmp_path):
    with FaultProxy(5432) as db_proxy:
        host = Host('host-c', stack, source, tmp_path, database, vhost,
                    db_port=db_proxy.port, LEASE_SECONDS=15)
        name = 'database-outage'
        # 16 s at the source's rate: the outage comes mid-download.
        path, _data = images.make_qcow2(str(source.root), name,
                                        size=256 * MiB)
        host.start()
        try:
            job_id = submit(host, stack, source.url(name), name)
            wait_for(database, job_id,
                     lambda row: row['bytes_done'] > 8 * MiB, what='start')
            db_proxy.outage()
            time.sleep(4)
            during = job_row(database, job_id)
            db_proxy.restore()
            row = wait_for(database, job_id, finished, what='active')
        finally:
            host.stop()

    # The worker kept downloading while it could not write its progress.
    assert during['state'] == 'downloading'
    assert row['attempts'] == 1
    log = (tmp_path / 'logs' / 'worker.log').read_text()
    assert 'Job database unavailable' in log
    [image] = glance_images(demo_glance, name)
    assert image.size == os.path.getsize(path)
    demo_glance.images.delete(image.id)
