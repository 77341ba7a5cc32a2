"""Many users at once (tools/bench_load.py), small, on every job store.

Browser sessions of two projects submit imports through the real form,
cancel and retry some from the table, on a stack of their own (Keystone,
Glance, Horizon and the worker as the demo runs them): every job must end
as it should, none lost or run twice, no 5xx, no "database is locked".
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.realstack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
IMPORTS = 16


@pytest.mark.parametrize('store', [
    [],
    ['--store', 'postgresql',
     '--broker', 'amqp://guest:guest@127.0.0.1:5672//'],
], ids=['embedded', 'postgresql-rabbitmq'])
def test_many_sessions_at_once_lose_no_job(store):
    result = subprocess.run(
        [sys.executable, 'tools/bench_load.py', '--sessions', '4',
         '--imports', str(IMPORTS), '--seconds', '8', '--cancel-every', '4',
         '--image-size', '2M', *store],
        cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary['ok'] and summary['errors'] == [], result.stdout
    assert summary['checks'] and all(summary['checks'].values())
    assert summary['submit']['n'] == IMPORTS
    # Every fourth import is cancelled while it downloads (its source is
    # slow), then retried: the retry is its active job.
    assert summary['changes']['cancels'] == IMPORTS // 4
    assert summary['changes']['landed'] >= 1
    assert summary['changes']['retried'] == summary['changes']['landed']
