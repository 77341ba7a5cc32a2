"""Follow a source in a real browser against the real stack: the first
look imports the current build, and the row shows its image."""

import time

import pytest

from tests.browser.helpers import ARTIFACTS
from tests.browser.helpers import choose
from tests.browser.helpers import login
from tools import images

pytestmark = [pytest.mark.browser, pytest.mark.realstack]


def test_a_subscription_sees_its_first_image(horizon, samples, small_page,
                                             demo_glance):
    page = small_page
    (samples.root / 'cirros' / 'current').mkdir(parents=True)
    images.make_qcow2(str(samples.root / 'cirros' / 'current'),
                      'cirros-x86_64-disk.img', size=4 * 1024 * 1024)
    login(page, horizon, 'demo', 'demo')
    page.goto(horizon.url + '/project/image_subscriptions/')
    page.click('#image_subscriptions__action_follow')
    page.wait_for_selector('#id_source_url')
    page.fill('#id_name', 'CirrOS nightly')
    choose(page, 'kind', 'A URL that always points at the latest build')
    page.fill('#id_source_url',
              samples.url('cirros/current/cirros-x86_64-disk.img'))
    page.fill('#id_image_name', '{name} ({date})')
    page.fill('#id_metadata', 'os_distro=cirros')
    page.screenshot(path=str(ARTIFACTS / 'follow-a-source.png'))
    page.click('.modal-footer .btn-primary')
    page.locator('.alert-success', has_text='Following "CirrOS nightly"'
                 ).wait_for()

    row = page.locator('#image_subscriptions tbody tr',
                       has_text='CirrOS nightly').first
    image = row.locator('a', has_text='CirrOS nightly (20')
    deadline = time.monotonic() + 120
    while not image.count():
        assert time.monotonic() < deadline, row.inner_text()
        time.sleep(2)
        page.reload()
    page.screenshot(path=str(ARTIFACTS / 'subscriptions.png'))

    assert 'Following' in row.inner_text()
    made = [found for found in demo_glance.images.list()
            if found.name.startswith('CirrOS nightly (')]
    assert [(found.status, found.os_distro) for found in made] == [
        ('active', 'cirros')]
    demo_glance.images.delete(made[0].id)
    row.locator('.dropdown-toggle').click()
    row.locator('button', has_text='Delete Subscription').click()
    page.click('.modal-footer .btn-danger')
    page.locator('.alert-success', has_text='Deleted Subscription').wait_for()
