"""Steps the browser tests share."""

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / 'artifacts' / 'browser'


# A checksum no file has: the import fails once downloaded.
WRONG_CHECKSUM = 'sha256:' + 'ab' * 32


def submit_import(page, url, screenshot=None, check=False, checksum=None):
    """Open the Import Image workflow, enter ``url`` (and ``checksum``,
    and press Check URL if asked) and submit it; return the job's row."""
    page.click('#image_imports__action_create')
    page.wait_for_selector('#id_source_url')
    page.fill('#id_source_url', url)
    if checksum:
        page.fill('#id_expected_checksum', checksum)
    if check:
        page.click('#check_source_url')
        page.locator('#source_url_check', has_text='resumable').wait_for()
        assert page.input_value('#id_name') == url.rsplit('/', 1)[-1]
    if screenshot:
        page.screenshot(path=str(ARTIFACTS / screenshot))
    page.click('.modal-footer .btn-primary')
    row = page.locator('#image_imports tbody tr',
                       has_text=url.rsplit('/', 1)[-1]).first
    row.wait_for()
    return row


def choose(page, field, label):
    """Pick ``label`` in a Horizon themable select as a user does; return
    every label the select offered."""
    select = page.locator('.themable-select', has=page.locator('#id_' + field))
    select.locator('button.dropdown-toggle').click()
    offered = select.locator('ul.dropdown-menu a').all_inner_texts()
    select.locator('ul.dropdown-menu a', has_text=label).click()
    return [text.strip() for text in offered]


def login(page, horizon, user, password):
    page.goto(horizon.url + '/auth/login/')
    page.fill('#id_username', user)
    page.fill('#id_password', password)
    page.click('#loginBtn')
    page.wait_for_url('**/project/image_imports/')


def status_cell(row):
    """The Status cell of a job's row (Horizon marks it by its state)."""
    return row.locator('td.warning, td.status_up, td.status_down')
