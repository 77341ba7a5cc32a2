"""The benchmark's account of CPU steal (tools/bench.py): a shared host's
other guests slow Glance, and the report must say so beside the ratios."""

import os

from tools import bench

TICK = os.sysconf('SC_CLK_TCK')


def test_steal_is_read_from_the_cpu_line(tmp_path):
    stat = tmp_path / 'stat'
    stat.write_text('cpu  100 0 50 1000 3 0 7 %d 0 0\n'
                    'cpu0 50 0 25 500 1 0 3 40 0 0\n' % (2 * TICK))
    assert bench.cpu_steal_seconds(str(stat)) == 2.0


def test_a_kernel_without_the_column_counts_none(tmp_path):
    stat = tmp_path / 'stat'
    stat.write_text('cpu  100 0 50 1000\n')
    assert bench.cpu_steal_seconds(str(stat)) == 0.0
    assert bench.cpu_steal_seconds(str(tmp_path / 'missing')) == 0.0


def run(seconds, steal):
    return {'seconds': seconds, 'size': 1, 'disk_peak': 0,
            'steal_s': steal}


def test_runs_that_lost_time_are_named_and_warned_of():
    results = {
        'glance-put/raw': bench.summarize([run(10, 0.0), run(10, 0.1)]),
        'importer/xz-raw': bench.summarize([run(12, 0.0), run(12, 1.2)]),
    }
    assert results['importer/xz-raw']['steal_s_median'] == 0.6
    assert round(results['importer/xz-raw']['steal_share_max'], 6) == 0.1
    lines = bench.steal_report(results)
    assert 'importer/xz-raw 0.60 s' in lines[0]
    assert 'glance-put/raw 0.05 s' in lines[0]
    assert ('the worst run (importer/xz-raw) had CPU time stolen '
            'equal to 10.0% of its duration') in lines[0]
    assert lines[1].startswith('Warning: more than 2% of a run was stolen')


def test_a_quiet_host_gets_no_warning():
    results = {'glance-put/raw': bench.summarize([run(10, 0.01)]),
               'importer/xz-raw': bench.summarize([run(12, 0.0)])}
    lines = bench.steal_report(results)
    assert len(lines) == 1 and 'equal to 0.1% of' in lines[0]


def test_records_without_steal_say_it_was_not_counted():
    results = {'glance-put/raw': bench.summarize(
        [{'seconds': 1, 'size': 1, 'disk_peak': 0}])}
    assert bench.steal_report(results) == [
        'CPU steal: not counted by this kernel.']
