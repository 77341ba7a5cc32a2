"""Import Many in a real browser against the real stack: a list of URLs
becomes one import each; a manifest with a wrong line queues nothing."""

import pytest

from tests.browser.helpers import ARTIFACTS
from tests.browser.helpers import login
from tests.browser.helpers import status_cell
from tools import images

pytestmark = [pytest.mark.browser, pytest.mark.realstack]


def open_import_many(page):
    page.click('#image_imports__action_bulk')
    page.wait_for_selector('#id_urls')


def rows_named(page, names):
    return {name: page.locator('#image_imports tbody tr',
                               has_text=name).first for name in names}


def test_a_manifest_with_a_wrong_line_queues_nothing(horizon, samples,
                                                     small_page):
    page = small_page
    login(page, horizon, 'demo', 'demo')
    before = page.locator('#image_imports tbody tr').count()
    open_import_many(page)
    page.fill('#id_manifest', (
        'images:\n'
        '  - %s\n'
        '  - url: %s\n'
        '    disk_format: floppy\n' % (samples.url('manifest-a.qcow2'),
                                       samples.url('manifest-b.qcow2'))))
    page.click('.modal-footer .btn-primary')

    error = page.locator('.modal .alert-danger', has_text='Image 2 (line 3)')
    error.wait_for()
    assert '"disk_format" cannot be "floppy"' in error.inner_text()
    page.screenshot(path=str(ARTIFACTS / 'import-many-refused.png'))
    page.goto(horizon.url + '/project/image_imports/')
    assert page.locator('#image_imports tbody tr',
                        has_text='manifest-a.qcow2').count() == 0
    assert page.locator('#image_imports tbody tr').count() == before


def test_several_urls_become_imports_and_one_is_refused(
        horizon, samples, small_page, demo_glance):
    page = small_page
    names = ['many-a.qcow2', 'many-b.qcow2']
    for name in names:
        images.make_qcow2(str(samples.root), name, size=8 * 1024 * 1024)
    # An address the cloud does not download from: refused when the
    # worker connects, on its own row.
    refused = 'http://127.0.0.1:9/many-refused.qcow2'
    login(page, horizon, 'demo', 'demo')
    open_import_many(page)
    page.fill('#id_urls', '\n'.join([samples.url(names[0]), refused,
                                     samples.url(names[1])]))
    page.screenshot(path=str(ARTIFACTS / 'import-many.png'))
    page.click('.modal-footer .btn-primary')
    page.locator('.alert-success', has_text='3 imports queued').wait_for()

    rows = rows_named(page, names + ['many-refused.qcow2'])
    for name in names:
        status_cell(rows[name]).filter(has_text='Active').wait_for(
            timeout=90_000)
    failed = rows['many-refused.qcow2']
    status_cell(failed).filter(has_text='Failed').wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / 'import-many-done.png'))

    assert 'not an address this cloud downloads from' in failed.inner_text()
    made = {image.name: image for image in demo_glance.images.list()
            if image.name in names + ['many-refused.qcow2']}
    for image in made.values():
        demo_glance.images.delete(image.id)
    assert sorted(made) == names
    assert {image.status for image in made.values()} == {'active'}
