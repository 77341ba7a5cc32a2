"""The Import Image workflow and the Retry action against the job
store's limits and Glance's quotas."""

from unittest import mock

from django.conf import settings as django_settings
from django.urls import reverse
from openstack_dashboard import api
from openstack_dashboard.test import helpers

from image_importer.api import glance as api_glance
from image_importer.models import ImportJob
from tests.unit.dashboards import helpers as dashboard_helpers
from tests.unit.factories import make_job
from tests.unit.test_limits import glance_client
from tests.unit.test_limits import usage
from tests.unit.test_limits import USAGE_WITH_LIMITS
from tests.unit.test_limits import USAGE_WITHOUT_LIMITS

INDEX_URL = reverse('horizon:project:image_imports:index')
CREATE_URL = reverse('horizon:project:image_imports:create')
# The real check, kept before the panel's test case mocks it.
api_glance_check_quota = api_glance.check_quota


class LimitViewTests(dashboard_helpers.TestCase):

    FORM = {'source_url': 'https://images.example.org/cirros.qcow2',
            'name': 'my kept name', 'description': 'kept too',
            'visibility': 'private'}

    def setUp(self):
        super().setUp()
        # The quota check runs for real here, on a mocked Glance client.
        self.mock_check_quota.side_effect = api_glance_check_quota

    def with_limits(self, **values):
        return self.settings(IMAGE_IMPORTER=dict(
            django_settings.IMAGE_IMPORTER, **values))

    def step_errors(self, res, slug='source'):
        step = res.context['workflow'].get_step(slug)
        return list(step.action.non_field_errors())

    @helpers.create_mocks({api.glance: ('glanceclient',)})
    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_create_over_the_queued_limit_says_why_and_keeps_input(
            self, enqueue):
        self.mock_glanceclient.return_value = glance_client(
            USAGE_WITHOUT_LIMITS)
        waiting = make_job(self.tenant.id)

        with self.with_limits(MAX_QUEUED_PER_PROJECT=1):
            res = self.client.post(CREATE_URL, self.FORM)

        self.assertTemplateUsed(res, 'horizon/common/_workflow_base.html')
        [error] = self.step_errors(res)
        self.assertIn('Your project already has 1 import waiting to start, '
                      'the most allowed (1).', error)
        self.assertContains(res, 'Wait for it to start')
        self.assertContains(res, 'my kept name')
        self.assertContains(res, 'kept too')
        self.assertEqual([waiting.pk], [
            job.pk for job in ImportJob.objects.all()])
        enqueue.assert_not_called()

    @helpers.create_mocks({api.glance: ('glanceclient',)})
    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_create_over_glances_image_quota_says_why(self, enqueue):
        self.mock_glanceclient.return_value = glance_client(
            usage(image_count_total=(2, 2)))

        res = self.client.post(CREATE_URL, self.FORM)

        [error] = self.step_errors(res)
        self.assertIn('Your project already has 2 images, the most the '
                      'Image service allows it (2)', error)
        self.assertContains(res, 'my kept name')
        self.assertFalse(ImportJob.objects.exists())
        self.mock_glanceclient.assert_called_once_with(
            helpers.IsHttpRequest())

    @helpers.create_mocks({api.glance: ('glanceclient',)})
    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_create_within_the_limits_is_queued(self, enqueue):
        self.mock_glanceclient.return_value = glance_client(
            USAGE_WITH_LIMITS)

        with self.captureOnCommitCallbacks(execute=True):
            res = self.client.post(CREATE_URL, self.FORM)

        self.assertNoWorkflowErrors(res)
        self.assertRedirectsNoFollow(res, INDEX_URL)
        job = ImportJob.objects.get()
        enqueue.assert_called_once_with(job.pk)

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_retry_over_the_queued_limit_says_why(self, enqueue):
        failed = make_job(self.tenant.id, state=ImportJob.FAILED,
                          error_code='connection_lost')
        make_job(self.tenant.id)

        with self.with_limits(MAX_QUEUED_PER_PROJECT=1):
            res = self.client.post(INDEX_URL, {
                'action': 'image_imports__retry__%s' % failed.pk},
                follow=True)

        errors = [str(m) for m in res.context['messages']
                  if 'error' in m.tags]
        self.assertIn('Your project already has 1 import waiting to start, '
                      'the most allowed (1). Wait for it to start, or '
                      'cancel it if you do not need it, then submit again; '
                      'ask the operator if your project needs a higher '
                      'limit.', errors)
        self.assertEqual(2, ImportJob.objects.count())
        enqueue.assert_not_called()
