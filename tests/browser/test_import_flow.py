"""A member imports an image in a real browser against the real stack."""

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.conftest import login
from tools import images

pytestmark = [pytest.mark.browser, pytest.mark.realstack]


def test_import_reaches_active_without_reloading(horizon, samples, browser):
    images.make_qcow2(str(samples.root), 'browser-disk.qcow2',
                      size=32 * 1024 * 1024)
    page = browser.new_page()
    login(page, horizon, 'demo', 'demo')

    page.click('#image_imports__action_create')
    page.wait_for_selector('#id_source_url')
    page.fill('#id_source_url', samples.url('browser-disk.qcow2'))
    page.click('#import_image_form input[type=submit], '
               '#import_image_modal .modal-footer .btn-primary')
    row = page.locator('#image_imports tbody tr',
                       has_text='browser-disk.qcow2')
    row.wait_for()
    # A marker set now survives only if the page is never reloaded.
    page.evaluate('window.__noReload = true')
    status = row.locator('td').nth(2)
    status.filter(has_text='Downloading').wait_for(timeout=30_000)
    row.locator('.progress-bar').first.wait_for()
    page.screenshot(path=str(ARTIFACTS / 'import-downloading.png'))

    status.filter(has_text='Active').wait_for(timeout=60_000)

    assert page.evaluate('window.__noReload === true')
    assert row.locator('a', has_text='browser-disk.qcow2').count() == 1
    page.screenshot(path=str(ARTIFACTS / 'import-active.png'), full_page=True)
    page.close()
