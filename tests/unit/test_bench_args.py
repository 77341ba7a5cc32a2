"""The benchmark's size, rate and latency arguments (tools/bench.py)."""

import argparse
import time
import urllib.request

import pytest

from tools import bench
from tools.fileserver import FileServer


@pytest.mark.parametrize('text, size', [
    ('2G', 2 * 1024 ** 3), ('64M', 64 * 1024 ** 2),
    ('512MiB', 512 * 1024 ** 2), ('4194304', 4 * 1024 ** 2)])
def test_sizes_take_units(text, size):
    assert bench.parse_size(text) == size


@pytest.mark.parametrize('text, message', [
    ('lots', 'is not a size'), ('3M', 'multiple of 2 MiB'),
    ('0', 'multiple of 2 MiB')])
def test_a_wrong_size_says_what_to_write(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        bench.parse_size(text)


@pytest.mark.parametrize('text, piece', [
    ('64K', 64 * 1024), ('1M', 1024 ** 2), ('256KiB', 256 * 1024),
    ('4096', 4096)])
def test_pieces_take_units(text, piece):
    assert bench.parse_piece(text) == piece


@pytest.mark.parametrize('text', ['big', '0', '-1K'])
def test_a_wrong_piece_says_what_to_write(text):
    with pytest.raises(argparse.ArgumentTypeError, match='64K or 1M'):
        bench.parse_piece(text)


def test_rates_take_units():
    assert bench.parse_rate('100M') == 100 * 1024 ** 2
    assert bench.parse_rate('1.5G') == 1536 * 1024 ** 2


@pytest.mark.parametrize('text', ['fast', '0', '-5M'])
def test_a_wrong_rate_says_what_to_write(text):
    with pytest.raises(argparse.ArgumentTypeError,
                       match='not a rate; write e.g. 100M'):
        bench.parse_rate(text)


def test_a_late_file_server_answers_every_request_late(tmp_path):
    """--source-latency: each answer waits, as across a network."""
    (tmp_path / 'disk').write_bytes(b'x' * 1000)
    with FileServer(tmp_path, latency=0.3) as server:
        for _ in range(2):
            began = time.monotonic()
            with urllib.request.urlopen(server.url('disk')) as answer:
                assert answer.read() == b'x' * 1000
            assert time.monotonic() - began >= 0.3
