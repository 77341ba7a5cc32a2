"""The web benchmark (tools/bench_web.py), small, so it cannot rot.

It runs as a user runs it, against the suite's real Keystone and Glance:
Horizon with the plugin under runserver and gunicorn, logins through the
login form, the table, row updates, submits through the workflow (each one
must leave its job row), and one real import by the worker.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.realstack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MEASUREMENTS = ('index', 'row_update', 'submit', 'admin_index',
                'open_modal', 'horizon_page')
TARGETS = ('index', 'row_update', 'submit', 'admin_index')
RUNS = 3


def test_small_web_bench_measures_every_target(stack, tmp_path):
    info = tmp_path / 'stack.json'
    info.write_text(json.dumps(stack.info()))
    result = subprocess.run(
        [sys.executable, 'tools/bench_web.py', '--jobs', '50', '--runs',
         str(RUNS), '--warmup', '1', '--image-size', '16M',
         '--stack-info', str(info)],
        cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    summary = json.loads(lines[-1])
    assert summary['ok'] and summary['errors'] == []
    assert summary['jobs'] == 50 and summary['runs'] == RUNS

    servers = sorted(summary['results'])
    assert servers in (['gunicorn', 'runserver'], ['runserver']), servers
    if servers == ['runserver']:
        assert 'no gunicorn' in summary['servers']['gunicorn']
    for server in servers:
        results = summary['results'][server]
        assert sorted(results) == sorted(MEASUREMENTS), server
        for key, found in results.items():
            assert found['n'] == RUNS, (server, key)
            assert 0 < found['min_s'] <= found['median_s'] <= \
                found['p90_s'] <= found['max_s'], (server, key)
    # One page of the default API_RESULT_PAGE_SIZE, of 50 jobs.
    assert summary['rows'] == {'index': 20, 'admin_index': 20}
    for key in TARGETS:
        assert summary['queries'][key] >= 1, key

    progress = summary['progress']
    assert progress['image_bytes'] == progress['source_bytes'] > 0
    assert progress['running_s'] > 0
    assert progress['writes'] >= 2
    assert progress['write_probe']['n'] == 200
    assert 0 < progress['share'] < 1 and 0 < progress['share_in_situ'] < 1

    targets = summary['targets']
    assert len(targets) == len(TARGETS) * len(servers) + 1
    for target in targets:
        assert isinstance(target['met'], bool), target
        verdict = 'PASS' if target['met'] else 'MISSED'
        assert any(line.startswith('| %s | %s |' % (target['target'],
                                                    target['server']))
                   and line.endswith('| %s |' % verdict)
                   for line in lines), target
