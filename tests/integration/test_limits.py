"""Limits against the real thing: a worker that runs two jobs at once
keeps a project to one running import, and the early quota check agrees
with Glance 33's own unified limits (Keystone registered limits)."""

import datetime
import io
import json
import sqlite3
import subprocess
import sys
import time

from glanceclient import exc as glance_exc
import pytest

from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import glance
from image_importer.engine import pipeline
from tests.unit import test_limits
from tools import dashboard
from tools.fileserver import FileServer
from tools import images
from tools import stack as stack_tool

pytestmark = pytest.mark.realstack

MiB = 1024 * 1024

SUBMIT_TWO = '''
import django, json, sys
django.setup()
from image_importer import crypto
from image_importer.worker import tasks
from image_importer.models import ImportJob
args = json.loads(sys.argv[1])
jobs = [ImportJob.objects.create(
    project_id=args['project'], user_id=args['user'], image_name=name,
    source_url=url, glance_endpoint=args['glance'],
    auth_token=crypto.encrypt(args['token'])) for name, url in args['urls']]
for job in jobs:
    tasks.enqueue(job.pk)
print(' '.join(job.pk.hex for job in jobs))
'''


def jobs_in(database, job_ids):
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        return [dict(db.execute(
            'SELECT state, error_code, attempts, phases, finished_at FROM '
            'image_importer_importjob WHERE id = ?', (job_id,)).fetchone())
            for job_id in job_ids]


def utc(text):
    """A naive UTC datetime from a stored timestamp or a phase's ISO time."""
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def test_a_projects_jobs_run_one_at_a_time(stack, tmp_path):
    samples = tmp_path / 'samples'
    samples.mkdir()
    for name in ('one.qcow2', 'two.qcow2'):
        images.make_qcow2(str(samples), name)
    # About 2 MiB a file at 1 MiB/s: two seconds each.
    with FileServer(samples, rate=MiB) as server:
        instance = dashboard.Dashboard(
            sys.prefix, tmp_path / 'dashboard', stack.keystone_url,
            port=stack_tool.free_port(),
            url_allowlist=['127.0.0.1:%d' % server.port],
            importer={'MAX_RUNNING_PER_PROJECT': 1,
                      'PROGRESS_INTERVAL': 0.2})
        instance.prepare()
        instance.start_worker()     # two jobs at once (--concurrency=2)
        try:
            args = {'project': stack.project_ids['demo'],
                    'user': stack.user_ids['demo'],
                    'token': stack.token('demo'), 'glance': stack.glance_url,
                    'urls': [(name, server.url(name))
                             for name in ('one.qcow2', 'two.qcow2')]}
            job_ids = subprocess.run(
                [instance.python, '-c', SUBMIT_TWO, json.dumps(args)],
                env=instance.env(), check=True, capture_output=True,
                text=True).stdout.split()
            database = str(tmp_path / 'dashboard' / 'horizon.sqlite3')
            deadline = time.monotonic() + 90
            while any(job['state'] not in ('active', 'failed', 'cancelled')
                      for job in jobs_in(database, job_ids)):
                assert time.monotonic() < deadline, jobs_in(database,
                                                            job_ids)
                time.sleep(0.5)
        finally:
            instance.stop()

    done = jobs_in(database, job_ids)
    assert [(job['state'], job['error_code']) for job in done] == [
        ('active', '')] * 2
    runs = []
    for job in done:
        phases = json.loads(job['phases'])
        # One run each: the give-backs left no trace in the timeline and
        # were not counted as attempts.
        assert job['attempts'] == 1
        assert phases[0]['phase'] == 'downloading'
        assert all('end' in phase for phase in phases)
        runs.append((utc(phases[0]['start']), utc(job['finished_at'])))
    first, second = sorted(runs)
    assert first[1] <= second[0], 'the two imports overlapped: %s' % runs
    log = (tmp_path / 'dashboard' / 'logs' / 'worker.log').read_text()
    assert 'running jobs, MAX_RUNNING_PER_PROJECT is 1' in log


# -- Glance's quotas ----------------------------------------------------------

# Each project may store 1 MiB in at most 2 images, uploading one at a time.
LIMITS = {'image_size_total': 1, 'image_stage_total': 1,
          'image_count_total': 2, 'image_count_uploading': 1}


@pytest.fixture(scope='module')
def limited_stack(tmp_path_factory):
    """Keystone + Glance with unified limits (LIMITS as registered
    limits)."""
    state = tmp_path_factory.mktemp('limited-stack')
    with stack_tool.Stack(state, keystone_port=stack_tool.free_port(),
                          glance_port=stack_tool.free_port(),
                          image_limits=LIMITS) as running:
        yield running


def client_for(stack, user):
    return glance.make_client(stack.glance_url, stack.token(user))


def glance_accepts(stack, user, size):
    """Whether Glance itself takes an image of ``size`` bytes (it is
    kept when it does, deleted when it does not)."""
    client = client_for(stack, user)
    image = client.images.create(name='quota-probe', disk_format='raw',
                                 container_format='bare')
    try:
        client.images.upload(image.id, io.BytesIO(bytes(size)),
                             image_size=size)
    except glance_exc.HTTPException as exc:
        assert exc.code == 413, exc
        # Glance drops the connection after refusing a body: a new one.
        client_for(stack, user).images.delete(image.id)
        return False
    assert client.images.get(image.id).status == 'active'
    return True


def test_quota_check_refuses_what_glance_refuses_for_size(limited_stack):
    client = client_for(limited_stack, 'demo')

    with pytest.raises(ImportFailure) as refused:
        glance.check_quota(client, 2 * MiB)
    assert (refused.value.code, refused.value.params) == (
        'glance_quota_size', {'size': 2 * MiB, 'limit': MiB, 'free': MiB})
    assert not glance_accepts(limited_stack, 'demo', 2 * MiB)

    glance.check_quota(client, MiB)
    assert glance_accepts(limited_stack, 'demo', MiB)

    # The project's mebibyte is used now: Glance and the check agree.
    with pytest.raises(ImportFailure) as refused:
        glance.check_quota(client, MiB)
    assert refused.value.params['free'] == 0
    assert not glance_accepts(limited_stack, 'demo', MiB)


def test_quota_check_refuses_what_glance_refuses_for_count(limited_stack):
    client = client_for(limited_stack, 'alt')
    for _ in range(2):
        glance.check_quota(client)
        client.images.create(name='counted', disk_format='raw',
                             container_format='bare')

    with pytest.raises(ImportFailure) as refused:
        glance.check_quota(client)
    assert (refused.value.code, refused.value.params) == (
        'glance_quota_count', {'usage': 2, 'limit': 2})
    with pytest.raises(glance_exc.HTTPException) as glance_refused:
        client.images.create(name='one-too-many', disk_format='raw',
                             container_format='bare')
    assert glance_refused.value.code == 413
    # Data for an image that already exists needs no new one.
    glance.check_quota(client, new_image=False)


def test_quota_check_is_quiet_without_unified_limits(stack):
    client = client_for(stack, 'demo')

    assert client.info.get_usage() == {}
    glance.check_quota(client, 100 * 1024 * MiB)


def test_usage_report_is_the_one_the_unit_tests_use(limited_stack):
    client = client_for(limited_stack, 'admin')

    assert client.info.get_usage() == test_limits.USAGE_WITH_LIMITS


@pytest.mark.parametrize('overlap', [True, False])
def test_quota_check_counts_the_raw_size_of_a_qcow2_made_raw(
        limited_stack, tmp_path, overlap):
    # A qcow2 of a few hundred KiB whose raw disk is over the project's
    # 1 MiB: Glance would refuse it only after the first mebibyte.
    samples = tmp_path / 'samples'
    samples.mkdir()
    images.make_sparse_qcow2(str(samples), 'small.qcow2', 8 * MiB,
                             data=64 * 1024)
    work = tmp_path / 'work'
    work.mkdir()
    client = client_for(limited_stack, 'admin')
    made = []
    with FileServer(samples) as server:
        request = pipeline.ImportRequest(
            url=server.url('small.qcow2'),
            fetcher=fetch.Fetcher(fetch.UrlPolicy(
                allow=('127.0.0.1:%d' % server.port,))),
            glance_client=client,
            image_meta=lambda disk_format: {
                'name': 'over-quota-once-raw', 'disk_format': disk_format,
                'container_format': 'bare'},
            disk_format='raw', overlap=overlap)
        with pytest.raises(ImportFailure) as refused:
            pipeline.run(request, str(work), Reporter(made))

    assert (refused.value.code, refused.value.params) == (
        'glance_quota_size', {'size': 8 * MiB, 'limit': MiB, 'free': MiB})
    assert made == []
    assert [i for i in client.images.list()
            if i.name == 'over-quota-once-raw'] == []


class Reporter:
    def __init__(self, made):
        self.made = made

    def phase(self, name):
        pass

    def progress(self, done, total):
        pass

    def image_created(self, image_id):
        self.made.append(image_id)

    def route(self, name, source_format):
        pass

    def provenance(self, origin):
        pass
