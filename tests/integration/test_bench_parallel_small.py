"""The parallel imports bench (tools/bench_parallel.py), small, so it
cannot rot: two imports at once over two projects against two parallel
PUTs, every image checked, with the CPU each measurement cost."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.realstack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_small_parallel_bench_measures_both_sides(tmp_path):
    result = subprocess.run(
        [sys.executable, 'tools/bench_parallel.py', '--size', '32M',
         '--counts', '2', '--cases', 'qcow2', '--cache', str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary['ok'] and summary['errors'] == []
    assert sorted(summary['records']) == ['importer/qcow2/2',
                                          'puts/qcow2/2']
    for record in summary['records'].values():
        (only,) = record
        assert only['seconds'] > 0
        assert only['cpu_s']['glance'] > 0
    mine = summary['records']['importer/qcow2/2'][0]
    assert sorted(mine['project_ends_s']) == ['alt', 'demo']
    assert summary['ratios']['qcow2/2'] > 0
    assert '| 2 | qcow2 kept |' in result.stdout
