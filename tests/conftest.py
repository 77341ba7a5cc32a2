"""Shared fixtures: the real Keystone + Glance stack and a sample server."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tools import stack as stack_tool  # noqa: E402


@pytest.fixture(scope='session')
def stack(tmp_path_factory):
    """A real Keystone 30 + Glance 33 on free loopback ports, state in a
    temp dir; stopped (every process) at the end of the session."""
    state = tmp_path_factory.mktemp('stack')
    with stack_tool.Stack(state, keystone_port=stack_tool.free_port(),
                          glance_port=stack_tool.free_port()) as running:
        yield running
