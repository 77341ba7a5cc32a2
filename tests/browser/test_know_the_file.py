"""A new user's own case, in a real browser at 1280x800: Ubuntu's s390x
cloud image (a qcow2 named .img) that they wish to make an ISO, and a
download page pasted instead of the file's link."""

import os
import tempfile
import time

import pytest

from tests.browser.helpers import ARTIFACTS
from tests.browser.helpers import choose
from tests.browser.helpers import login
from tests.browser.helpers import status_cell
from tests.browser.helpers import submit_import
from tests.browser.helpers import WRONG_CHECKSUM
from tools.fileserver import Fault
from tools import images
from tools import publishers

pytestmark = [pytest.mark.browser, pytest.mark.realstack]

GIB = 1024 ** 3
IMAGE = 'jammy-server-cloudimg-s390x.img'


def open_form(page, url):
    page.click('#image_imports__action_create')
    page.wait_for_selector('#id_source_url')
    page.fill('#id_source_url', url)
    page.click('#check_source_url')


def details(page):
    page.click('.modal .nav-pills a:has-text("Details")')


def test_the_format_is_known_before_submit_and_iso_refused(
        horizon, samples, small_page, demo_glance):
    page = small_page
    images.make_sparse_qcow2(str(samples.root), IMAGE, 2 * GIB)
    login(page, horizon, 'demo', 'demo')

    open_form(page, samples.url(IMAGE))
    found = page.locator('#source_url_found')
    found.wait_for()
    assert found.inner_text().startswith(
        'qcow2 disk image, 2.0\xa0GB virtual, '), found.inner_text()
    assert '(named .img)' in found.inner_text()
    assert 's390x / ubuntu 22.04' in page.inner_text('#source_url_check')
    page.screenshot(path=str(ARTIFACTS / 'check-url-format.png'))

    details(page)
    # Help texts are reachable by keyboard, not only by a mouse hover.
    icon = page.locator('#import_image__details .help-icon').first
    assert icon.get_attribute('tabindex') == '0'
    icon.focus()
    page.locator('.tooltip').wait_for()
    assert [page.input_value('#id_' + name) for name in (
        'name', 'architecture', 'os_distro', 'os_version', 'min_disk')] == [
        IMAGE, 's390x', 'ubuntu', '22.04', '2']
    choose(page, 'disk_format', 'ISO')
    page.click('.modal-footer .btn-primary')
    error = page.locator('.modal .has-error', has_text='not an installer ISO')
    error.wait_for()
    page.screenshot(path=str(ARTIFACTS / 'iso-refused.png'))

    choose(page, 'disk_format', 'Automatic')
    page.click('.modal-footer .btn-primary')
    row = page.locator('#image_imports tbody tr', has_text=IMAGE).first
    status_cell(row).filter(has_text='Active').wait_for(timeout=60_000)

    [image] = demo_glance.images.list(filters={'name': IMAGE})
    try:
        assert (image.disk_format, image.architecture, image.os_distro,
                image.os_version, image.min_disk) == (
            'qcow2', 's390x', 'ubuntu', '22.04', 2)
    finally:
        demo_glance.images.delete(image.id)


def test_a_web_page_is_refused_before_submit_and_at_it(
        horizon, samples, small_page):
    page = small_page
    (samples.root / 'download.img').write_text(
        '<!DOCTYPE html>\n<html><head><title>Ubuntu cloud images</title>'
        '</head><body><a href="jammy.img">jammy.img</a></body></html>\n')
    login(page, horizon, 'demo', 'demo')

    open_form(page, samples.url('download.img'))
    error = page.locator('#source_url_check.text-danger #source_url_error')
    error.wait_for()
    assert error.inner_text().startswith(
        'This is a web page, not an image file: copy the link of the file '
        'itself')
    page.screenshot(path=str(ARTIFACTS / 'check-url-web-page.png'))

    page.click('.modal-footer .btn-primary')
    page.locator('.modal .has-error', has_text='This is a web page').wait_for()
    assert page.locator('#image_imports tbody tr',
                        has_text='download.img').count() == 0


def table_overflow(page):
    """How far the imports table reaches past the window's right edge."""
    return page.evaluate(
        "document.querySelector('#image_imports').getBoundingClientRect()"
        ".right - document.documentElement.clientWidth")


def column_widths(page):
    """Each column's heading and width, for a failure's message."""
    return ' '.join('%s=%d' % tuple(pair) for pair in page.evaluate(
        "Array.from(document.querySelectorAll('#image_imports thead th'))"
        ".map(th => [th.innerText.trim(), th.getBoundingClientRect().width])"))


def test_the_tables_fit_a_small_screen(horizon, samples, small_page,
                                       browser):
    # A failed import with a long file name and a long reason: the
    # checksum given is not the file's.
    page = small_page
    name = 'debian-13-generic-amd64-daily-20261207-2331.qcow2'
    images.make_qcow2(str(samples.root), name)
    login(page, horizon, 'demo', 'demo')
    row = submit_import(page, samples.url(name), checksum=WRONG_CHECKSUM)
    status_cell(row).filter(has_text='Failed').wait_for(timeout=60_000)
    # And one running, with its progress bar and its actions.
    running = 'ubuntu-24.04-server-cloudimg-amd64-running.img'
    images.make_qcow2(str(samples.root), running, size=8 * 1024 * 1024)
    samples.faults['/' + running] = Fault(stall_after=1024 * 1024)
    status_cell(submit_import(page, samples.url(running))).filter(
        has_text='Downloading').wait_for(timeout=30_000)

    page.screenshot(path=str(ARTIFACTS / 'imports-table-1280.png'))
    assert table_overflow(page) <= 0, column_widths(page)

    context = browser.new_context(viewport={'width': 1280, 'height': 800})
    try:
        admin = context.new_page()
        admin.goto(horizon.url + '/auth/login/')
        admin.fill('#id_username', 'admin')
        admin.fill('#id_password', 'admin')
        admin.click('#loginBtn')
        admin.wait_for_load_state()
        admin.goto(horizon.url + '/admin/image_imports/')
        admin_row = admin.locator('#image_imports tbody tr',
                                  has_text=name[:20]).first
        admin_row.wait_for()
        assert 'demo' in admin_row.inner_text()
        admin.screenshot(path=str(ARTIFACTS / 'admin-table-1280.png'))
        assert table_overflow(admin) <= 0, column_widths(admin)
    finally:
        context.close()
    # The running one stopped, and the page left settled.
    job_id = page.locator('#image_imports tbody tr', has_text=running[:20]
                          ).first.get_attribute('data-object-id')
    page.click('#image_imports__row_%s__action_cancel' % job_id)
    page.click('.modal-footer .btn-danger, .modal-footer .btn-primary')
    status_cell(page.locator('#image_imports__row__%s' % job_id)).filter(
        has_text='Cancelled').wait_for(timeout=30_000)


def test_edit_and_retry_replaces_a_failed_import(horizon, samples,
                                                 small_page, demo_glance):
    page = small_page
    name = 'retried-disk.qcow2'
    images.make_qcow2(str(samples.root), name)
    login(page, horizon, 'demo', 'demo')
    submit_import(page, samples.url(name), checksum=WRONG_CHECKSUM)
    rows = page.locator('#image_imports tbody tr', has_text=name)
    status_cell(rows.first).filter(has_text='Failed').wait_for(
        timeout=60_000)
    old = rows.first.get_attribute('data-object-id')

    rows.first.locator('.dropdown-toggle').click()
    page.click('#image_imports__row_%s__action_edit_retry' % old)
    page.wait_for_selector('#id_source_url')
    assert (page.input_value('#id_source_url'),
            page.input_value('#id_expected_checksum')) == (
        samples.url(name), WRONG_CHECKSUM)
    page.screenshot(path=str(ARTIFACTS / 'edit-and-retry.png'))
    page.fill('#id_expected_checksum', '')
    page.click('.modal-footer .btn-primary')
    status_cell(rows.first).filter(has_text='Active').wait_for(
        timeout=60_000)

    assert rows.count() == 1
    assert rows.first.get_attribute('data-object-id') != old
    [image] = demo_glance.images.list(filters={'name': name})
    demo_glance.images.delete(image.id)


def test_edit_and_retry_continues_the_stopped_download(
        horizon, samples, small_page, demo_glance):
    # Made raw, the download goes to the worker's disk; stopped part-way
    # (about 32 MiB at 4 MiB/s), the retry asks the server for the rest.
    page = small_page
    name = 'stopped-disk.qcow2'
    path, _data = images.make_qcow2(str(samples.root), name,
                                    size=64 * 1024 * 1024)
    size = os.path.getsize(path)
    login(page, horizon, 'demo', 'demo')
    page.click('#image_imports__action_create')
    page.wait_for_selector('#id_source_url')
    page.fill('#id_source_url', samples.url(name))
    details(page)
    choose(page, 'disk_format', 'Raw')
    page.click('.modal-footer .btn-primary')
    rows = page.locator('#image_imports tbody tr', has_text=name)
    row = rows.first
    status_cell(row).filter(has_text='Downloading').wait_for(timeout=30_000)
    old = row.get_attribute('data-object-id')
    time.sleep(3)       # about 12 MiB
    page.click('#image_imports__row_%s__action_cancel' % old)
    page.click('.modal-footer .btn-danger, .modal-footer .btn-primary')
    status_cell(row).filter(has_text='Cancelled').wait_for(timeout=30_000)
    before = len(samples.requests)

    row.locator('.dropdown-toggle').click()
    page.click('#image_imports__row_%s__action_edit_retry' % old)
    page.wait_for_selector('#id_source_url')
    page.click('.modal-footer .btn-primary')
    status_cell(rows.first).filter(has_text='Active').wait_for(
        timeout=60_000)

    # The worker's request is the last: the check at submit reads the
    # first MiBs before it.
    ranged = [r[2] for r in samples.requests[before:]
              if r[0] == 'GET' and r[1] == '/' + name][-1]
    assert ranged and int(ranged.split('=')[1].rstrip('-')) >= size // 8
    [image] = demo_glance.images.list(filters={'name': name})
    try:
        assert (image.disk_format, image.size) == ('raw', 64 * 1024 * 1024)
    finally:
        demo_glance.images.delete(image.id)


def test_properties_come_from_the_metadata_catalog(
        horizon, samples, small_page, demo_glance):
    # As in Create Image: the Metadata step offers Glance's Metadata
    # Catalog; an item added by keyboard becomes a line to complete.
    page = small_page
    name = 'catalog.qcow2'
    images.make_qcow2(str(samples.root), name)
    login(page, horizon, 'demo', 'demo')
    page.click('#image_imports__action_create')
    page.wait_for_selector('#id_source_url')
    page.fill('#id_source_url', samples.url(name))
    page.click('.modal .nav-pills a:has-text("Metadata")')

    page.fill('#metadata_catalog_filter', 'disk bus')
    add = page.get_by_role('button', name='Add Disk Bus', exact=True)
    add.focus()
    page.keyboard.press('Enter')
    assert page.input_value('#id_metadata') == 'hw_disk_bus='
    page.keyboard.type('virtio')
    assert page.input_value('#id_metadata') == 'hw_disk_bus=virtio'
    assert 'Values: scsi' in page.inner_text('#metadata_catalog_description')
    page.screenshot(path=str(ARTIFACTS / 'metadata-catalog.png'))

    page.click('.modal-footer .btn-primary')
    row = page.locator('#image_imports tbody tr', has_text=name).first
    status_cell(row).filter(has_text='Active').wait_for(timeout=60_000)
    [image] = demo_glance.images.list(filters={'name': name})
    try:
        assert image.hw_disk_bus == 'virtio'
    finally:
        demo_glance.images.delete(image.id)


def test_the_publishers_signed_checksum_is_found_and_shown(
        horizon, samples, publisher, small_page, demo_glance):
    # Ubuntu's layout: SHA256SUMS and its signature beside the image, the
    # key trusted by this cloud; the user pastes only the image's URL.
    page = small_page
    layout = publishers.LAYOUTS['ubuntu']
    folder = samples.root / 'ubuntu-releases'
    with tempfile.TemporaryDirectory() as tmp:
        path, _data = images.make_qcow2(tmp, 'disk.qcow2')
        with open(path, 'rb') as f:
            publishers.publish(str(folder), layout, f.read(), publisher)
    url = samples.url('ubuntu-releases/' + layout.image)
    login(page, horizon, 'demo', 'demo')

    open_form(page, url)
    found = page.locator('#source_url_published')
    found.wait_for()
    assert found.inner_text() == (
        'SHA256SUMS found beside it, with a sha256 line for %s; signed by '
        '%s (%s).' % (layout.image, publisher.uid, publisher.fingerprint))
    page.screenshot(path=str(ARTIFACTS / 'check-url-signed.png'))
    page.click('.modal-footer .btn-primary')

    row = page.locator('#image_imports tbody tr', has_text=layout.image).first
    status_cell(row).filter(has_text='Active').wait_for(timeout=60_000)
    assert 'Checksum matched; signed by Test Cloud Images' in row.inner_text()
    row.locator('a', has_text=layout.image).click()
    verdict = page.locator('#import_verdict')
    verdict.wait_for()
    assert verdict.inner_text() == 'signed by %s (%s)' % (
        publisher.uid, publisher.fingerprint)
    assert page.inner_text('#import_checksum_source').startswith(
        'SHA256SUMS, found beside the image')
    page.screenshot(path=str(ARTIFACTS / 'job-page-signed.png'),
                    full_page=True)

    [image] = demo_glance.images.list(filters={'name': layout.image})
    try:
        assert (image.image_importer_verification,
                image.image_importer_signing_key) == (
            'signed', publisher.fingerprint)
        # The same URL again: Check URL offers the image already made
        # from that file (the user decides).
        page.goto(horizon.url + '/project/image_imports/')
        open_form(page, url)
        same = page.locator('#source_url_same')
        same.wait_for()
        assert '%s (qcow2, private)' % layout.image in same.inner_text()
        assert image.id in same.locator('a').get_attribute('href')
        page.screenshot(path=str(ARTIFACTS / 'check-url-same-file.png'))
    finally:
        demo_glance.images.delete(image.id)
