"""The operator's tests drive Debian's Chromium as the browser tests do."""

from tests.browser.conftest import browser  # noqa: F401
from tests.browser.conftest import page  # noqa: F401
