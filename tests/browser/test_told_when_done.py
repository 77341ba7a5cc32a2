"""Told when it is done: an import that ends while its user is on another
page of Horizon is announced on the next page they open, once."""

import time

import pytest

from tests.browser.helpers import ARTIFACTS
from tests.browser.helpers import login
from tests.browser.helpers import submit_import
from tools import images

pytestmark = [pytest.mark.browser, pytest.mark.realstack]


def test_the_next_page_says_the_import_is_ready_once(horizon, samples,
                                                     small_page,
                                                     demo_glance):
    page = small_page
    images.make_qcow2(str(samples.root), 'told.qcow2', size=8 * 1024 * 1024)
    login(page, horizon, 'demo', 'demo')
    submit_import(page, samples.url('told.qcow2'))
    # Elsewhere in Horizon while it imports.
    page.goto(horizon.url + '/project/api_access/')
    ready = page.locator('.alert-success', has_text='Image "told.qcow2" is '
                                                    'ready.')
    deadline = time.monotonic() + 90
    while not ready.count():
        assert time.monotonic() < deadline, 'no message on any page'
        time.sleep(2)
        page.goto(horizon.url + '/project/api_access/')
        page.wait_for_load_state('networkidle')
    page.screenshot(path=str(ARTIFACTS / 'told-when-done.png'))

    page.goto(horizon.url + '/project/api_access/')
    page.wait_for_load_state('networkidle')

    assert page.locator('.alert', has_text='told.qcow2').count() == 0
    for image in demo_glance.images.list():
        if image.name == 'told.qcow2':
            demo_glance.images.delete(image.id)
