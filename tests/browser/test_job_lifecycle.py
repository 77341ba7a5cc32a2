"""Cancel, failure, the job page, the admin view and project isolation,
in Debian's Chromium against the real stack."""

import time

import pytest

from tests.browser.helpers import ARTIFACTS
from tests.browser.helpers import login
from tests.browser.helpers import status_cell
from tests.browser.helpers import submit_import
from tests.browser.helpers import WRONG_CHECKSUM
from tools.fileserver import Fault
from tools import images

pytestmark = [pytest.mark.browser, pytest.mark.realstack]


def row_id(row):
    return row.get_attribute('data-object-id')


def wait_until(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.3)


def test_cancel_during_download_leaves_nothing(horizon, samples, page,
                                               demo_glance):
    # 48 MiB of random data at 4 MiB/s: about 12 s of downloading.
    images.make_qcow2(str(samples.root), 'to-cancel.qcow2',
                      size=96 * 1024 * 1024)
    login(page, horizon, 'demo', 'demo')
    row = submit_import(page, samples.url('to-cancel.qcow2'))
    status = status_cell(row)
    status.filter(has_text='Downloading').wait_for(timeout=30_000)
    job_id = row_id(row)

    page.click('#image_imports__row_%s__action_cancel' % job_id)
    footer = page.locator('#modal_wrapper .modal-footer').last
    footer.wait_for()
    assert [b.strip() for b in footer.locator('.btn').all_inner_texts()] == [
        'Keep importing', 'Stop Import']
    page.screenshot(path=str(ARTIFACTS / 'cancel-confirm.png'))
    page.click('.modal-footer .btn-danger, .modal-footer .btn-primary')
    status_cell(page.locator('#image_imports__row__%s' % job_id)).filter(
        has_text='Cancelled').wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / 'import-cancelled.png'))

    work = horizon.state / 'work'
    wait_until(lambda: not any(work.iterdir()))
    assert [i for i in demo_glance.images.list()
            if i.name == 'to-cancel.qcow2'] == []


def test_cancel_stops_a_worker_waiting_on_a_silent_server(
        horizon, samples, page):
    # The server sends 1 MiB and then nothing, the connection open: the
    # worker's process waits in a receive with a minute's timeout, and no
    # progress is written. The cancel must still reach it in seconds.
    images.make_qcow2(str(samples.root), 'silent.qcow2',
                      size=32 * 1024 * 1024)
    samples.faults['/silent.qcow2'] = Fault(stall_after=1024 * 1024)
    login(page, horizon, 'demo', 'demo')
    row = submit_import(page, samples.url('silent.qcow2'))
    status_cell(row).filter(has_text='Downloading').wait_for(timeout=30_000)
    job_id = row_id(row)
    log = horizon.state / 'logs' / 'worker.log'
    time.sleep(2)       # the receive is waiting by now

    page.click('#image_imports__row_%s__action_cancel' % job_id)
    page.click('.modal-footer .btn-danger, .modal-footer .btn-primary')
    cancelled = time.monotonic()
    wait_until(lambda: 'Import job %s stopped' % job_id in log.read_text(),
               timeout=15)
    took = time.monotonic() - cancelled

    assert took < 8, took
    work = horizon.state / 'work'
    wait_until(lambda: not (work / job_id).exists(), timeout=5)


def test_a_running_row_is_polled_every_few_seconds(horizon, samples, page):
    # A silent server: the row hardly changes, and Horizon's back-off
    # would wait longer at each poll (here as if ten polls had passed:
    # 27.5 s). The panel polls every 2.5 s however long it waits.
    images.make_qcow2(str(samples.root), 'still.qcow2',
                      size=32 * 1024 * 1024)
    samples.faults['/still.qcow2'] = Fault(stall_after=1024 * 1024)
    login(page, horizon, 'demo', 'demo')
    row = submit_import(page, samples.url('still.qcow2'))
    status_cell(row).filter(has_text='Downloading').wait_for(timeout=30_000)
    job_id = row_id(row)
    requests = []
    page.on('request', lambda request: requests.append(request.url))
    page.evaluate("$('#image_imports').attr('decay_constant', 10)")
    since = len(requests)
    page.wait_for_timeout(9_000)    # (events are taken while it waits)

    polls = [url for url in requests[since:] if 'action=row_update' in url]
    assert len(polls) >= 3, polls
    page.click('#image_imports__row_%s__action_cancel' % job_id)
    page.click('.modal-footer .btn-danger, .modal-footer .btn-primary')
    status_cell(page.locator('#image_imports__row__%s' % job_id)).filter(
        has_text='Cancelled').wait_for(timeout=30_000)


def test_a_running_jobs_page_follows_it_and_stops_it(horizon, samples,
                                                     page):
    images.make_qcow2(str(samples.root), 'followed.qcow2',
                      size=96 * 1024 * 1024)
    login(page, horizon, 'demo', 'demo')
    row = submit_import(page, samples.url('followed.qcow2'))
    status_cell(row).filter(has_text='Downloading').wait_for(timeout=30_000)
    job_id = row_id(row)
    page.click('#image_imports__row__%s a:has-text("followed.qcow2")'
               % job_id)
    progress = page.locator('#import_progress')
    progress.wait_for()
    first = progress.inner_text()
    wait_until(lambda: progress.inner_text() != first, timeout=15)
    assert 'of 2: downloading' in progress.inner_text()
    page.screenshot(path=str(ARTIFACTS / 'job-page-running.png'))

    page.click('#image_imports__row_%s__action_cancel' % job_id)
    page.click('.modal-footer .btn-danger, .modal-footer .btn-primary')
    status_cell(page.locator('#image_imports__row__%s' % job_id)).filter(
        has_text='Cancelled').wait_for(timeout=30_000)


def test_failure_shows_its_reason(horizon, samples, page):
    # A URL the form knows is bad is refused there, on its field.
    login(page, horizon, 'demo', 'demo')
    page.click('#image_imports__action_create')
    page.fill('#id_source_url', samples.url('no-such-file.qcow2'))
    page.click('.modal-footer .btn-primary')
    page.locator('.modal .has-error',
                 has_text='The server answered 404 Not Found').wait_for()
    page.screenshot(path=str(ARTIFACTS / 'import-refused-at-form.png'))
    page.click('.modal-footer .cancel, .modal-header .close')

    # What only the download can tell fails the job, saying why.
    images.make_qcow2(str(samples.root), 'not-this-one.qcow2')
    row = submit_import(page, samples.url('not-this-one.qcow2'),
                        checksum=WRONG_CHECKSUM)
    status_cell(row).filter(has_text='Failed').wait_for(timeout=30_000)

    assert "The file's sha256 checksum is" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / 'import-failed.png'))


def test_job_page_admin_view_and_other_project(horizon, samples, page,
                                               browser):
    images.make_qcow2(str(samples.root), 'detail.qcow2',
                      size=8 * 1024 * 1024)
    login(page, horizon, 'demo', 'demo')
    row = submit_import(page, samples.url('detail.qcow2'))
    status_cell(row).filter(has_text='Active').wait_for(
        timeout=60_000)
    job_url = horizon.url + '/project/image_imports/%s/' % row_id(row)

    page.goto(job_url)
    page.locator('#import_timeline').wait_for()
    text = page.inner_text('.detail')
    for expected in ('qcow2', 'Downloading', 'Uploading', 'sha256:'):
        assert expected in text
    page.screenshot(path=str(ARTIFACTS / 'job-page.png'), full_page=True)

    admin = browser.new_context(viewport={'width': 1400, 'height': 900})
    admin_page = admin.new_page()
    login(admin_page, horizon, 'admin', 'admin')
    admin_page.goto(horizon.url + '/admin/image_imports/')
    admin_row = admin_page.locator('#image_imports tbody tr',
                                   has_text='detail.qcow2').first
    admin_row.wait_for()
    assert 'demo' in admin_row.inner_text()
    admin_page.screenshot(path=str(ARTIFACTS / 'admin-view.png'))
    admin.close()

    other = browser.new_context(viewport={'width': 1400, 'height': 900})
    alt_page = other.new_page()
    login(alt_page, horizon, 'alt', 'alt')
    assert 'detail.qcow2' not in alt_page.inner_text('#image_imports')
    response = alt_page.goto(job_url)
    assert response.status == 404
    alt_page.goto(horizon.url + '/admin/image_imports/')
    assert 'detail.qcow2' not in alt_page.content()
    alt_page.screenshot(path=str(ARTIFACTS / 'other-project.png'))
    other.close()


def test_material_theme_shows_the_panel_and_workflow(material_horizon,
                                                     samples, browser):
    images.make_qcow2(str(samples.root), 'material.qcow2',
                      size=8 * 1024 * 1024)
    context = browser.new_context(viewport={'width': 1400, 'height': 900})
    page = context.new_page()
    login(page, material_horizon, 'demo', 'demo')
    # The Material theme's own header template is in use.
    assert page.locator('.md-hamburger-trigger').count() == 1

    row = submit_import(page, samples.url('material.qcow2'),
                        screenshot='material-workflow.png', check=True)
    status_cell(row).filter(has_text='Active').wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / 'material-active.png'))
    context.close()
