"""The worker on the production brokers: RabbitMQ and Redis on loopback.

The job is recorded and its message sent exactly as the dashboard does;
the sweeper is told to wait ten minutes, so the job can only have run
because the broker delivered its message.
"""

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from tools import dashboard
from tools.fileserver import FileServer
from tools import images
from tools import stack as stack_tool

pytestmark = pytest.mark.realstack

SUBMIT = '''
import django, json, sys
django.setup()
from image_importer import crypto
from image_importer.worker import tasks
from image_importer.models import ImportJob
args = json.loads(sys.argv[1])
job = ImportJob.objects.create(
    project_id=args['project'], user_id=args['user'], image_name='broker',
    source_url=args['url'], glance_endpoint=args['glance'],
    auth_token=crypto.encrypt(args['token']))
tasks.enqueue(job.pk)
print(job.pk.hex)
'''


def submit(instance, stack, url):
    """Record a job and send its message as the dashboard does."""
    args = {'project': stack.project_ids['demo'],
            'user': stack.user_ids['demo'], 'token': stack.token('demo'),
            'glance': stack.glance_url, 'url': url}
    return subprocess.run(
        [instance.python, '-c', SUBMIT, json.dumps(args)],
        env=instance.env(), check=True, capture_output=True,
        text=True).stdout.split()[-1]


def wait_until_finished(database, job_id, timeout=90):
    deadline = time.monotonic() + timeout
    while job_state(database, job_id)[0] not in ('active', 'failed'):
        assert time.monotonic() < deadline, job_state(database, job_id)
        time.sleep(0.5)
    return job_state(database, job_id)


def job_state(database, job_id):
    with sqlite3.connect(database) as db:
        row = db.execute('SELECT state, error_code FROM '
                         'image_importer_importjob WHERE id = ?',
                         (job_id,)).fetchone()
    return row


@pytest.mark.parametrize('broker', [
    'amqp://guest:guest@127.0.0.1:5672//',
    'redis://127.0.0.1:6379/15',
])
def test_job_runs_through_a_real_broker(stack, sample_server, tmp_path,
                                        broker):
    images.make_qcow2(str(sample_server.root), 'via-broker.qcow2')
    instance = dashboard.Dashboard(
        sys.prefix, tmp_path, stack.keystone_url,
        port=stack_tool.free_port(),
        url_allowlist=['127.0.0.1:%d' % sample_server.port],
        importer={'BROKER_URL': broker, 'REQUEUE_AFTER': 600})
    instance.prepare()
    instance.start_worker()
    try:
        job_id = submit(instance, stack,
                        sample_server.url('via-broker.qcow2'))
        assert wait_until_finished(str(tmp_path / 'horizon.sqlite3'),
                                   job_id) == ('active', '')
    finally:
        instance.stop()


def test_job_submitted_while_the_broker_is_down_runs_when_it_is_back(
        stack, sample_server, tmp_path):
    images.make_qcow2(str(sample_server.root), 'broker-down.qcow2')
    port = stack_tool.free_port()
    instance = dashboard.Dashboard(
        sys.prefix, tmp_path, stack.keystone_url,
        port=stack_tool.free_port(),
        url_allowlist=['127.0.0.1:%d' % sample_server.port],
        importer={'BROKER_URL': 'redis://127.0.0.1:%d/0' % port,
                  'REQUEUE_AFTER': 1, 'SWEEP_INTERVAL': 2})
    instance.prepare()
    started = time.monotonic()
    job_id = submit(instance, stack, sample_server.url('broker-down.qcow2'))
    assert time.monotonic() - started < 30, 'submit waited for the broker'
    database = str(tmp_path / 'horizon.sqlite3')
    assert job_state(database, job_id) == ('queued', '')

    broker = subprocess.Popen(['redis-server', '--port', str(port),
                               '--bind', '127.0.0.1', '--save', '',
                               '--appendonly', 'no'],
                              stdout=subprocess.DEVNULL)
    try:
        instance.start_worker()
        assert wait_until_finished(database, job_id) == ('active', '')
    finally:
        instance.stop()
        broker.terminate()
        broker.wait()


@pytest.fixture
def short_consumer_timeout():
    """RabbitMQ's consumer_timeout (30 min by default) cut to 3 s for the
    test: a delivery left unacknowledged longer closes the channel."""
    def set_timeout(value):
        subprocess.run(['rabbitmqctl', '-q', 'eval',
                        'application:set_env(rabbit, consumer_timeout, %s).'
                        % value], check=True, capture_output=True)
    set_timeout(3000)
    yield
    set_timeout(1800000)


@pytest.mark.parametrize('broker, options', [
    ('amqp://guest:guest@127.0.0.1:5672//', {}),
    ('redis://127.0.0.1:6379/15', {'visibility_timeout': 3}),
])
def test_a_job_longer_than_the_broker_timeouts_runs_once(
        stack, tmp_path, short_consumer_timeout, broker, options):
    """Redis redelivers a message not acknowledged within its visibility
    timeout and RabbitMQ drops a consumer that holds one past
    consumer_timeout: both set to 3 s here, for a 10 s job. The message is
    acknowledged when the job starts, so the job runs once, to the end."""
    root = tmp_path / 'samples'
    root.mkdir()
    images.make_qcow2(str(root), 'long.qcow2', size=32 * 1024 * 1024)
    with FileServer(root, rate=2 * 1024 * 1024) as slow:
        instance = dashboard.Dashboard(
            sys.prefix, tmp_path, stack.keystone_url,
            port=stack_tool.free_port(),
            url_allowlist=['127.0.0.1:%d' % slow.port],
            importer={'BROKER_URL': broker,
                      'BROKER_TRANSPORT_OPTIONS': options,
                      'REQUEUE_AFTER': 600})
        instance.prepare()
        instance.start_worker()
        try:
            job_id = submit(instance, stack, slow.url('long.qcow2'))
            assert wait_until_finished(str(tmp_path / 'horizon.sqlite3'),
                                       job_id) == ('active', '')
        finally:
            instance.stop()
        with sqlite3.connect(str(tmp_path / 'horizon.sqlite3')) as db:
            attempts, phases = db.execute(
                'SELECT attempts, phases FROM image_importer_importjob '
                'WHERE id = ?', (job_id,)).fetchone()
    assert attempts == 1
    assert [p['phase'] for p in json.loads(phases)] == [
        'downloading', 'uploading']
    assert json.loads(phases)[0]['end'] > json.loads(phases)[0]['start']
