"""A member imports an image in a real browser against the real stack."""

import time

import pytest

from tests.browser.helpers import ARTIFACTS
from tests.browser.helpers import login
from tests.browser.helpers import status_cell
from tests.browser.helpers import submit_import
from tools import images

pytestmark = [pytest.mark.browser, pytest.mark.realstack]


def test_import_reaches_active_without_reloading(horizon, samples, page):
    # 32 MiB of random data at 4 MiB/s: about 8 s of visible download.
    images.make_qcow2(str(samples.root), 'browser-disk.qcow2',
                      size=64 * 1024 * 1024)
    login(page, horizon, 'demo', 'demo')

    row = submit_import(page, samples.url('browser-disk.qcow2'),
                        screenshot='import-workflow.png', check=True)
    # A marker set now survives only if the page is never reloaded.
    page.evaluate('window.__noReload = true')
    status = status_cell(row)
    status.filter(has_text='Downloading').wait_for(timeout=30_000)
    bar = row.locator('.progress-bar[aria-valuenow]').first
    bar.wait_for()
    first = int(bar.get_attribute('aria-valuenow'))
    page.screenshot(path=str(ARTIFACTS / 'import-downloading.png'))
    # The bar moves with each row update, without a reload.
    deadline = time.monotonic() + 30
    while int(bar.get_attribute('aria-valuenow')) <= first:
        assert time.monotonic() < deadline, 'the progress bar did not move'
        time.sleep(0.2)
    page.screenshot(path=str(ARTIFACTS / 'import-progress-moved.png'))

    status.filter(has_text='Active').wait_for(timeout=60_000)

    assert page.evaluate('window.__noReload === true')
    assert row.locator('a', has_text='browser-disk.qcow2').count() == 1
    page.screenshot(path=str(ARTIFACTS / 'import-active.png'), full_page=True)
