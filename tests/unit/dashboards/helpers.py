"""What the panels' view tests share, on top of Horizon's test cases."""

from unittest import mock

from openstack_dashboard.test import helpers

from image_importer.api import glance as api_glance


class ImporterMixin:
    """An empty Glance for the Import Image workflow (its kernel and
    ramdisk choices) and for the quota check before a submit; a test that
    cares about either mocks it again with ``helpers.create_mocks``."""

    def setUp(self):
        super().setUp()
        for target, attribute, answer in (
                (helpers.api.glance, 'image_list_detailed',
                 ([], False, False)),
                (api_glance, 'check_quota', None)):
            patcher = mock.patch.object(target, attribute,
                                        return_value=answer)
            setattr(self, 'mock_' + attribute, patcher.start())
            self.addCleanup(patcher.stop)


class TestCase(ImporterMixin, helpers.TestCase):
    """A project member's view test."""


class AdminTestCase(ImporterMixin, helpers.BaseAdminViewTests):
    """An admin's view test."""
