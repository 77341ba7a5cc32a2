"""A member imports an image in a real browser against the real stack."""

import time

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
import pytest

from tests.browser.helpers import ARTIFACTS
from tests.browser.helpers import choose
from tests.browser.helpers import login
from tests.browser.helpers import status_cell
from tests.browser.helpers import submit_import
from tools import images

pytestmark = [pytest.mark.browser, pytest.mark.realstack]


def bar_value(row):
    """The row's progress bar value now, or None while it shows none (a
    phase that has not reported its size yet, or the job has ended).
    Unlike a locator's get_attribute, this does not wait for the bar."""
    bars = row.locator('.progress-bar[aria-valuenow]')
    try:
        if bars.count():
            return int(bars.first.get_attribute('aria-valuenow',
                                                timeout=1_000))
    except PlaywrightTimeoutError:
        pass  # a row update replaced the bar between the two calls
    return None


def test_import_reaches_active_without_reloading(horizon, samples, page):
    # 64 MiB of random data at 4 MiB/s: about 16 s of visible download,
    # six or more row updates (Horizon polls every 2.5 s) even when a
    # slow machine shows the first one late.
    images.make_qcow2(str(samples.root), 'browser-disk.qcow2',
                      size=128 * 1024 * 1024)
    login(page, horizon, 'demo', 'demo')

    row = submit_import(page, samples.url('browser-disk.qcow2'),
                        screenshot='import-workflow.png', check=True)
    # A marker set now survives only if the page is never reloaded.
    page.evaluate('window.__noReload = true')
    status = status_cell(row)
    status.filter(has_text='Downloading').wait_for(timeout=30_000)
    row.locator('.progress-bar[aria-valuenow]').first.wait_for()
    # (0 if a row update replaced the bar in between)
    first = bar_value(row) or 0
    page.screenshot(path=str(ARTIFACTS / 'import-downloading.png'))
    # The bar moves with each row update, without a reload.
    seen = [first]
    deadline = time.monotonic() + 30
    while True:
        value = bar_value(row)
        if value is not None and value > first:
            break
        if value != seen[-1]:
            seen.append(value)
        assert time.monotonic() < deadline, (
            'the progress bar did not move: it showed %s (None: no bar), '
            'the status now %r' % (seen, status.inner_text()))
        time.sleep(0.2)
    page.screenshot(path=str(ARTIFACTS / 'import-progress-moved.png'))

    status.filter(has_text='Active').wait_for(timeout=60_000)

    assert page.evaluate('window.__noReload === true')
    # The job's page, and the image by its name in the Image column.
    links = row.locator('a', has_text='browser-disk.qcow2')
    assert sorted('image_imports' in link.get_attribute('href')
                  for link in links.all()) == [False, True]
    page.screenshot(path=str(ARTIFACTS / 'import-active.png'), full_page=True)


def test_kernel_and_ramdisk_chosen_in_the_form_reach_the_image(
        horizon, samples, page, demo_glance):
    kernel = demo_glance.images.create(name='browser-kernel',
                                       disk_format='aki',
                                       container_format='aki')
    ramdisk = demo_glance.images.create(name='browser-ramdisk',
                                        disk_format='ari',
                                        container_format='ari')
    made = [kernel.id, ramdisk.id]
    try:
        images.make_qcow2(str(samples.root), 'with-kernel.qcow2')
        login(page, horizon, 'demo', 'demo')
        page.click('#image_imports__action_create')
        page.fill('#id_source_url', samples.url('with-kernel.qcow2'))
        page.click('.modal .nav-pills a:has-text("Details")')
        # One Glance list fills both: each offers only its own format.
        kernels = choose(page, 'kernel', 'browser-kernel')
        ramdisks = choose(page, 'ramdisk', 'browser-ramdisk')
        assert 'browser-kernel' in kernels, kernels
        assert 'browser-ramdisk' not in kernels, kernels
        assert 'browser-ramdisk' in ramdisks, ramdisks
        assert 'browser-kernel' not in ramdisks, ramdisks
        assert page.input_value('#id_kernel') == kernel.id
        page.click('.modal-footer .btn-primary')
        row = page.locator('#image_imports tbody tr',
                           has_text='with-kernel.qcow2').first
        status_cell(row).filter(has_text='Active').wait_for(timeout=60_000)

        [image] = demo_glance.images.list(
            filters={'name': 'with-kernel.qcow2'})
        made.append(image.id)
        assert (image.kernel_id, image.ramdisk_id) == (kernel.id, ramdisk.id)
    finally:
        for image_id in made:
            demo_glance.images.delete(image_id)
