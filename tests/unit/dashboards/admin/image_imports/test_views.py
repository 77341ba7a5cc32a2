"""The admin panel: every project's jobs."""

from django.urls import reverse

from image_importer.models import ImportJob
from tests.unit.dashboards import helpers as dashboard_helpers
from tests.unit.dashboards.project.image_imports.test_tables import action
from tests.unit.factories import make_job

ADMIN_URL = reverse('horizon:admin:image_imports:index')


class AdminPanelTests(dashboard_helpers.AdminTestCase):

    def test_admin_sees_every_projects_jobs_with_owner(self):
        make_job('project-a', image_name='from-a', user_name='alice')
        make_job('project-b', image_name='from-b', user_name='bob')

        res = self.client.get(ADMIN_URL)

        self.assertEqual(2, len(res.context['table'].data))
        for text in ('from-a', 'from-b', 'project-a', 'alice', 'bob'):
            self.assertContains(res, text)

    def test_projects_are_named_not_numbered(self):
        make_job('0f3c9a2e7d1b4c5a', project_name='research',
                 image_name='named')

        res = self.client.get(ADMIN_URL)

        [cell] = [row.cells['owner'].data for row in
                  res.context['table'].get_rows()]
        self.assertEqual('research<br><small>u1</small>', cell)

    def test_admin_can_open_and_cancel_any_job(self):
        job = make_job('project-a', state=ImportJob.DOWNLOADING)

        page = self.client.get(reverse('horizon:admin:image_imports:detail',
                                       args=[job.pk]))
        self.client.post(ADMIN_URL, action('cancel', job))

        self.assertContains(page, 'project-a')
        self.assertEqual(ImportJob.CANCELLED,
                         ImportJob.objects.get(pk=job.pk).state)
