"""The import benchmark (tools/bench.py), small, so it cannot rot.

It runs as a user runs it: its own Keystone + Glance, a worker, a loopback
file server, real curl, qemu-img, xz and the openstack CLI; every import,
by each method, must end active with the right bytes.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.realstack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MIB = 1024 * 1024
MEASUREMENTS = (
    'importer/qcow2', 'importer/qcow2-raw', 'importer/xz-raw',
    'by-hand/qcow2', 'by-hand/qcow2-raw', 'by-hand/xz-raw',
    'web-download/qcow2', 'web-download/raw',
    'glance-put/qcow2', 'glance-put/raw',
)
TARGETS = 5


def run_bench(tmp_path, *args):
    """A 32 MiB run of one round; its report's lines and its JSON line,
    which must say it went well."""
    result = subprocess.run(
        [sys.executable, 'tools/bench.py', '--size', '32M', '--runs', '1',
         '--cache', str(tmp_path / 'images'), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    summary = json.loads(lines[-1])
    assert summary['ok'] and summary['failures'] == []
    return lines, summary


def test_small_bench_imports_every_way_and_reports_it_all(tmp_path):
    size = 32 * MIB
    lines, summary = run_bench(tmp_path)
    assert summary['size'] == size and summary['runs'] == 1

    sources = summary['sources'][str(size)]
    assert sources['bench.raw'] == size
    final_size = {'qcow2': sources['bench.qcow2'], 'raw': size}
    # The qcow2 keeps the zero half out of the file.
    assert final_size['qcow2'] < size * 3 // 4
    results = summary['results']
    assert sorted(results) == sorted(MEASUREMENTS)
    for key, found in results.items():
        final = 'qcow2' if key.endswith('/qcow2') else 'raw'
        assert found['ok'] and found['errors'] == [], key
        assert found['sizes'] == [final_size[final]], key
        assert found['median_s'] > 0, key

    for case in ('qcow2', 'qcow2-raw', 'xz-raw'):
        importer = results['importer/' + case]
        assert {'downloading', 'uploading'} <= set(
            importer['phases_median_s']), case
        assert importer['worker_rss_peak_bytes'] > 10 * MIB, case
        assert importer['disk_peak_bytes'] > 0, case
        assert importer['job_writes_median'] >= 2, case
        assert importer['queued_s_median'] >= 0, case
        comparison = summary['cases'][case]
        for field in ('importer_s', 'by_hand_s', 'web_download_s',
                      'floor_s', 'vs_floor', 'vs_by_hand',
                      'vs_web_download'):
            assert comparison[field] > 0, (case, field)
    assert results['by-hand/qcow2-raw']['steps_median_s'][
        'qemu-img convert'] > 0
    assert 'xz -d' in results['by-hand/xz-raw']['steps_median_s']

    assert len(summary['targets']) == TARGETS
    for target in summary['targets']:
        assert target['value'] is not None, target
        verdict = 'MET' if target['met'] else 'MISSED'
        assert '- %s %s: %.2f' % (verdict, target['target'],
                                  target['value']) in lines
    # Each measurement says how much CPU the host's other guests took.
    for key in MEASUREMENTS:
        assert results[key]['steal_s_median'] >= 0, key
    assert any(line.startswith('CPU steal') for line in lines)
    # The worker was warmed up with an import of a small image first.
    assert str(4 * MIB) in summary['sources']
    assert any(line.startswith('| qcow2 kept | ') for line in lines)


def test_small_bench_with_the_users_sha512_verifies_it(tmp_path):
    # Each job is given the source's sha512 (as from a SHA512SUMS file);
    # the bench fails a job that did not verify it.
    lines, summary = run_bench(tmp_path, '--cases', 'qcow2,xz-raw',
                               '--checksum', 'sha512')
    assert summary['checksum'] == 'sha512'
    assert sorted(k for k in summary['results']
                  if k.startswith('importer/')) == [
        'importer/qcow2', 'importer/xz-raw']
    assert "given the source's sha512" in lines[0]
    # Only the measured cases have rows in the importer's table.
    assert not any(line.startswith('| qcow2 -> raw | failed')
                   for line in lines)


def test_small_bench_with_a_slow_source_serves_every_way_at_that_rate(
        tmp_path):
    rate = 16 * MIB
    lines, summary = run_bench(tmp_path, '--cases', 'qcow2-raw',
                               '--source-rate', '16M')
    assert summary['source_rate'] == rate
    assert 'served at 16 MiB/s at most' in lines[0]
    qcow2 = summary['sources'][str(32 * MIB)]['bench.qcow2']
    # Each download took at least the time the rate allows.
    least = qcow2 / rate
    results = summary['results']
    assert results['by-hand/qcow2-raw']['steps_median_s']['curl'] >= least
    assert results['importer/qcow2-raw']['median_s'] >= least
    assert results['web-download/raw']['median_s'] >= 2 * least
    # Compared with the larger of the transfer and Glance's floor.
    compared = summary['cases']['qcow2-raw']
    # The transfer is curl's download of the throttled source.
    assert compared['transfer_s'] == results['by-hand/qcow2-raw'][
        'steps_median_s']['curl'] >= least
    assert compared['vs_bound'] > 0
    assert any(line.startswith('The source at 16 MiB/s') for line in lines)
    assert any('max(the source' in target['target']
               for target in summary['targets'])


def test_small_bench_on_the_users_clock_through_the_form(tmp_path):
    # --user-clock: the Import Image form of a running Horizon, until
    # Glance says active; a source across a network (--source-latency).
    lines, summary = run_bench(tmp_path, '--cases', 'qcow2', '--user-clock',
                               '--source-latency', '0.02')
    assert summary['source_latency'] == 0.02
    assert 'comes 20 ms late' in lines[0]
    clock = summary['results']['user-clock/qcow2']
    assert clock['ok'] and clock['median_s'] > 0
    steps = clock['steps_median_s']
    assert sorted(steps) == ['running', 'submit', 'until claimed']
    assert steps['submit'] > 0 and steps['running'] > 0
    # The user waits for at least what the job row shows.
    assert clock['median_s'] >= steps['running']
    assert summary['cases']['qcow2']['user_vs_floor'] > 0
    assert any(line.startswith("The user's clock") for line in lines)
    assert any("the user's clock, qcow2 kept" in target['target']
               for target in summary['targets'])
