"""Jobs outlive the worker and lost messages: the job table is the truth."""

import sqlite3

import pytest

from tests.browser.helpers import login
from tests.browser.helpers import status_cell
from tests.browser.helpers import submit_import
from tools import images

pytestmark = [pytest.mark.browser, pytest.mark.realstack]


def test_job_queued_while_worker_down_and_message_lost_still_runs(
        horizon, samples, page):
    images.make_qcow2(str(samples.root), 'while-down.qcow2',
                      size=8 * 1024 * 1024)
    login(page, horizon, 'demo', 'demo')
    broker = str(horizon.state / 'worker' / 'broker.sqlite3')
    horizon.stop_worker()
    try:
        row = submit_import(page, samples.url('while-down.qcow2'))
        status = status_cell(row)
        assert status.inner_text().strip() == 'Queued'
        with sqlite3.connect(broker) as db:   # the broker loses it
            lost = db.execute('DELETE FROM kombu_message WHERE visible')
            assert lost.rowcount >= 1, 'the submit should have queued one'
        db.close()
    finally:
        horizon.start_worker()

    status.filter(has_text='Active').wait_for(timeout=60_000)
