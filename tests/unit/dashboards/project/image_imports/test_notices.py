"""Told when it is done: a message on the next page for each import that
ended while its user was elsewhere, once."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone
import pytest

from image_importer import jobs
from image_importer.models import ImportJob
from tests.unit.dashboards import helpers as dashboard_helpers
from tests.unit.factories import make_job

INDEX_URL = reverse('horizon:project:image_imports:index')
NOTICES_URL = reverse('horizon:project:image_imports:notices')


class NoticeTests(dashboard_helpers.TestCase):

    def ended(self, name, state=ImportJob.ACTIVE, **fields):
        values = dict(user_id=self.user.id, image_name=name, state=state,
                      finished_at=timezone.now())
        values.update(fields)
        return make_job(self.tenant.id, **values)

    def notices(self):
        res = self.client.post(NOTICES_URL)
        self.assertEqual(200, res.status_code)
        return [(notice['level'], notice['message'])
                for notice in res.json()['notices']]

    def test_each_ended_import_is_told_once(self):
        self.ended('jammy')
        self.ended('broken', ImportJob.FAILED, error_code='http_status',
                   error_params={'status': 404, 'reason': 'Not Found'})
        self.ended('stopped', ImportJob.CANCELLED)
        make_job(self.tenant.id, user_id=self.user.id, image_name='running',
                 state=ImportJob.DOWNLOADING)
        # Another member's, and the user's own in another project.
        self.ended('theirs', user_id='someone-else')
        make_job('another-project', user_id=self.user.id,
                 image_name='elsewhere', state=ImportJob.ACTIVE)

        first = self.notices()

        self.assertEqual(2, len(first), first)
        self.assertIn(('success', 'Image "jammy" is ready.'), first)
        [(level, failed)] = [n for n in first if n[0] == 'error']
        self.assertTrue(failed.startswith('Import of "broken" failed: '))
        self.assertIn('404', failed)
        self.assertEqual([], self.notices())

    def test_many_at_once_are_counted_in_one_more(self):
        for number in range(jobs.NOTICES_AT_ONCE + 3):
            self.ended('image-%d' % number)

        first = self.notices()

        self.assertEqual(jobs.NOTICES_AT_ONCE + 1, len(first))
        self.assertEqual(('info', '3 more imports ended: see Image '
                                  'Imports.'), first[-1])
        self.assertEqual([], self.notices())

    def test_an_import_seen_ending_in_the_table_is_not_told_again(self):
        shown = self.ended('watched')
        theirs = self.ended('theirs', user_id='someone-else')

        self.client.get(INDEX_URL)

        self.assertEqual([], self.notices())
        shown.refresh_from_db()
        theirs.refresh_from_db()
        self.assertEqual((True, False), (shown.notified, theirs.notified))

    def test_a_row_update_or_the_job_page_counts_as_seen(self):
        polled = self.ended('polled')
        opened = self.ended('opened')

        self.client.get(INDEX_URL, {
            'action': 'row_update', 'table': 'image_imports',
            'obj_id': str(polled.pk)}, HTTP_X_REQUESTED_WITH='XMLHttpRequest')
        self.client.get(reverse('horizon:project:image_imports:detail',
                                args=[opened.pk]))

        self.assertEqual([], self.notices())


@pytest.mark.django_db(transaction=True)
def test_jobs_that_ended_before_the_upgrade_count_as_told():
    app = 'image_importer'
    executor = MigrationExecutor(connection)
    executor.migrate([(app, '0005_find_checksum')])
    old = executor.loader.project_state(
        (app, '0005_find_checksum')).apps.get_model(app, 'ImportJob')
    old.objects.create(project_id='p1', user_id='u1', image_name='last year',
                       state='active', glance_endpoint='http://glance:9292',
                       source_url='https://images.example.org/a.img')
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert ImportJob.objects.get(image_name='last year').notified
    assert not make_job(image_name='new').notified
