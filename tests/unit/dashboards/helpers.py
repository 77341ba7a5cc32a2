"""What the panels' view tests share, on top of Horizon's test cases."""

from unittest import mock

from openstack_dashboard.test import helpers

from image_importer.api import glance as api_glance
from image_importer.dashboards.project.image_imports import checks


class ImporterMixin:
    """An empty Glance for the Import Image workflow (its kernel and
    ramdisk choices, its Metadata Catalog), for the quota check before a
    submit and for images already made from the same file, and a
    source URL check at submit that found nothing to say (Horizon's test
    case refuses real HTTP calls); a test that cares about one mocks it
    again (``helpers.create_mocks``, ``mock_check.return_value``)."""

    mock_source_check = True

    def setUp(self):
        super().setUp()
        mocked = [(helpers.api.glance, 'image_list_detailed',
                   ([], False, False)),
                  (api_glance, 'check_quota', None),
                  (api_glance, 'image_exists', True),
                  (api_glance, 'metadata_catalog', []),
                  (api_glance, 'images_from_source', []),
                  (api_glance, 'identical_images', [])]
        if self.mock_source_check:
            mocked.append((checks, 'check', checks.Checked()))
        for target, attribute, answer in mocked:
            patcher = mock.patch.object(target, attribute,
                                        return_value=answer)
            setattr(self, 'mock_' + attribute, patcher.start())
            self.addCleanup(patcher.stop)


class TestCase(ImporterMixin, helpers.TestCase):
    """A project member's view test."""


class AdminTestCase(ImporterMixin, helpers.BaseAdminViewTests):
    """An admin's view test."""
