"""Row and table actions of the project panel, and its job page."""

import re
import types
from unittest import mock

from django.urls import reverse
from django.utils import timezone
from glanceclient import exc as glance_exc
from openstack_dashboard.test import helpers

from image_importer import crypto
from image_importer.dashboards.project.image_imports import tables as \
    import_tables
from image_importer.models import ImportJob
from tests.unit.dashboards import helpers as dashboard_helpers
from tests.unit.factories import make_job

INDEX_URL = reverse('horizon:project:image_imports:index')
ADMIN_URL = reverse('horizon:admin:image_imports:index')
LAUNCH_RULES = (('compute', 'os_compute_api:servers:create'),)
SIGNED_PROVENANCE = {
    'checksum_from': 'found',
    'checksum_url': 'https://images.example.org/SHA256SUMS',
    'algorithm': 'sha256', 'expected': 'ab' * 32, 'verification': 'signed',
    'fingerprint': 'E4E1E754', 'signer': 'Cloud Images <images@example.org>',
    'looked_for': []}


def row_actions(res, name):
    """How many rows offer the action ``name``."""
    return len(re.findall(r'id="image_imports__row_[^"]+__action_%s"' % name,
                          res.content.decode()))


def action(table_action, job):
    return {'action': 'image_imports__%s__%s' % (table_action, job.pk)}


class ProjectActionTests(dashboard_helpers.TestCase):

    def test_cancel_a_running_job(self):
        job = make_job(self.tenant.id, state=ImportJob.DOWNLOADING)

        res = self.client.post(INDEX_URL, action('cancel', job))

        self.assertRedirectsNoFollow(res, INDEX_URL)
        self.assertEqual(ImportJob.CANCELLED,
                         ImportJob.objects.get(pk=job.pk).state)

    def test_cancel_another_projects_job_changes_nothing(self):
        theirs = make_job('another-project', state=ImportJob.DOWNLOADING)

        self.client.post(INDEX_URL, action('cancel', theirs))

        self.assertEqual(ImportJob.DOWNLOADING,
                         ImportJob.objects.get(pk=theirs.pk).state)

    def test_batch_cancel(self):
        running = [make_job(self.tenant.id, state=s) for s in (
            ImportJob.QUEUED, ImportJob.CONVERTING)]

        self.client.post(INDEX_URL, {
            'action': 'image_imports__cancel',
            'object_ids': [str(j.pk) for j in running]})

        self.assertEqual({ImportJob.CANCELLED}, set(
            ImportJob.objects.values_list('state', flat=True)))

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_retry_queues_a_new_job_with_the_acting_users_token(
            self, enqueue):
        failed = make_job(self.tenant.id, state=ImportJob.FAILED,
                          user_id='someone-else', disk_format='raw',
                          min_disk=3, error_code='connection_lost')

        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(INDEX_URL, action('retry', failed))

        new = ImportJob.objects.exclude(pk=failed.pk).get()
        self.assertEqual((ImportJob.QUEUED, self.user.id, 'raw', 3),
                         (new.state, new.user_id, new.disk_format,
                          new.min_disk))
        self.assertEqual(self.token.id, crypto.decrypt(new.auth_token))
        self.assertEqual('', new.source_credentials)
        enqueue.assert_called_once_with(new.pk)
        self.assertEqual(ImportJob.FAILED,
                         ImportJob.objects.get(pk=failed.pk).state)

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_retry_reuses_the_source_password_for_its_owner_only(
            self, enqueue):
        mine = make_job(self.tenant.id, state=ImportJob.FAILED,
                        user_id=self.user.id,
                        source_credentials=crypto.encrypt('u:pw'))
        theirs = make_job(self.tenant.id, state=ImportJob.CANCELLED,
                          user_id='someone-else',
                          source_credentials=crypto.encrypt('them:secret'))

        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(INDEX_URL, action('retry', mine))
            res = self.client.post(INDEX_URL, action('retry', theirs),
                                   follow=True)

        [new] = ImportJob.objects.exclude(pk__in=(mine.pk, theirs.pk))
        self.assertEqual('u:pw', crypto.decrypt(new.source_credentials))
        enqueue.assert_called_once_with(new.pk)
        messages = [str(m) for m in res.context['messages']]
        self.assertTrue(any('password' in m and 'only' in m
                            for m in messages), messages)

    def test_delete_a_finished_job_keeps_the_image(self):
        done = make_job(self.tenant.id, state=ImportJob.ACTIVE,
                        image_id='img-1')

        self.client.post(INDEX_URL, action('delete', done))

        self.assertFalse(ImportJob.objects.filter(pk=done.pk).exists())

    @helpers.create_mocks({helpers.api.glance: ('image_delete',)})
    def test_delete_with_image_deletes_both(self):
        done = make_job(self.tenant.id, state=ImportJob.ACTIVE,
                        image_id='img-1')

        self.client.post(INDEX_URL, action('delete_with_image', done))

        self.mock_image_delete.assert_called_once_with(
            helpers.IsHttpRequest(), 'img-1')
        self.assertFalse(ImportJob.objects.filter(pk=done.pk).exists())

    @helpers.create_mocks({helpers.api.glance: ('image_delete',)})
    def test_image_delete_failure_keeps_the_record(self):
        done = make_job(self.tenant.id, state=ImportJob.ACTIVE,
                        image_id='img-1')
        self.mock_image_delete.side_effect = self.exceptions.glance

        self.client.post(INDEX_URL, action('delete_with_image', done))

        self.assertTrue(ImportJob.objects.filter(pk=done.pk).exists())

    @helpers.create_mocks({helpers.api.glance: ('glanceclient',)})
    def test_delete_with_image_removes_the_image_a_failed_job_left(self):
        # The worker lost the authority to delete it (role removed); the
        # job made it, so even the protection the user asked for goes.
        failed = make_job(self.tenant.id, state=ImportJob.FAILED,
                          image_id='img-2', error_code='authorization_lost',
                          error_params={'left_image': 'img-2'})
        images = self.mock_glanceclient.return_value.images
        images.get.return_value = mock.Mock(protected=True)

        self.client.post(INDEX_URL, action('delete_with_image', failed))

        images.update.assert_called_once_with('img-2', protected=False)
        images.delete.assert_called_once_with('img-2')
        self.assertFalse(ImportJob.objects.filter(pk=failed.pk).exists())

    @helpers.create_mocks({helpers.api.glance: ('glanceclient',)})
    def test_a_left_image_already_gone_still_deletes_the_record(self):
        failed = make_job(self.tenant.id, state=ImportJob.FAILED,
                          image_id='img-2', error_code='token_expired',
                          error_params={'left_image': 'img-2'})
        images = self.mock_glanceclient.return_value.images
        images.get.side_effect = glance_exc.HTTPNotFound()

        self.client.post(INDEX_URL, action('delete_with_image', failed))

        images.delete.assert_not_called()
        self.assertFalse(ImportJob.objects.filter(pk=failed.pk).exists())

    @helpers.create_mocks({helpers.api.glance: ('glanceclient',
                                                'image_delete')})
    def test_a_failed_job_whose_image_was_deleted_has_no_image_to_delete(
            self):
        # The worker deleted the unfinished image itself.
        failed = make_job(self.tenant.id, state=ImportJob.FAILED,
                          image_id='img-3', error_code='checksum_mismatch')

        res = self.client.get(INDEX_URL)
        self.client.post(INDEX_URL, action('delete_with_image', failed))

        self.assertNotContains(res, 'delete_with_image__%s' % failed.pk)
        self.mock_glanceclient.assert_not_called()
        self.mock_image_delete.assert_not_called()
        self.assertTrue(ImportJob.objects.filter(pk=failed.pk).exists())

    def test_the_failure_names_the_image_left_behind(self):
        failed = make_job(self.tenant.id, state=ImportJob.FAILED,
                          image_id='img-4', error_code='authorization_lost',
                          error_params={'left_image': 'img-4'})

        res = self.client.get(reverse(
            'horizon:project:image_imports:detail', args=[failed.pk]))

        self.assertContains(res, 'The unfinished image img-4 it made could '
                                 'not be deleted')
        self.assertContains(res, 'Delete Import and Image')

    def test_running_job_cannot_be_deleted(self):
        running = make_job(self.tenant.id, state=ImportJob.UPLOADING)

        self.client.post(INDEX_URL, action('delete', running))

        self.assertTrue(ImportJob.objects.filter(pk=running.pk).exists())

    def test_detail_page_shows_findings_and_timeline(self):
        job = make_job(
            self.tenant.id, state=ImportJob.ACTIVE, image_id='img-9',
            source_format='qcow2', disk_format='raw', compression='xz',
            checksums={'sha256': 'ab' * 32}, checksum_verified='sha256',
            phases=[{'phase': 'downloading',
                     'start': '2026-11-27T10:00:00+00:00',
                     'end': '2026-11-27T10:00:04+00:00',
                     'bytes': 4 * 1024 * 1024}])

        res = self.client.get(reverse('horizon:project:image_imports:detail',
                                      args=[job.pk]))

        self.assertContains(res, 'Verified against the expected sha256')
        self.assertContains(res, 'sha256:' + 'ab' * 32)
        self.assertContains(res, '4.0 s')
        self.assertContains(res, '1.0\xa0MB/s')
        self.assertContains(res, 'xz')

    def test_detail_page_says_how_the_image_went_to_glance(self):
        job = make_job(
            self.tenant.id, state=ImportJob.ACTIVE, image_id='img-9',
            phases=[{'phase': 'downloading',
                     'start': '2026-11-27T10:00:00+00:00',
                     'end': '2026-11-27T10:00:04+00:00',
                     'routes': ['RAW_AS_IT_ARRIVES',
                                'CONVERTED_INTO_UPLOAD']}])

        res = self.client.get(reverse('horizon:project:image_imports:detail',
                                      args=[job.pk]))

        self.assertContains(res, 'made raw as it was downloaded, and sent')
        self.assertContains(res, 'then: made raw by QEMU straight into the '
                                 'upload')

    def test_the_row_and_page_say_who_vouches_for_the_image(self):
        signed = make_job(
            self.tenant.id, state=ImportJob.ACTIVE, image_id='img-1',
            image_name='signed', checksum_verified='sha256',
            provenance=SIGNED_PROVENANCE)
        make_job(
            self.tenant.id, state=ImportJob.ACTIVE, image_id='img-2',
            image_name='unverified',
            provenance=dict(SIGNED_PROVENANCE, checksum_from='',
                            checksum_url='', algorithm='', expected='',
                            verification=''))
        # The user asked for no checksum.
        make_job(
            self.tenant.id, state=ImportJob.ACTIVE, image_id='img-4',
            image_name='unchecked', find_checksum=False,
            provenance=dict(SIGNED_PROVENANCE, checksum_from='not_sought',
                            checksum_url='', algorithm='', expected='',
                            verification=''))
        # Recorded before imports kept their provenance.
        make_job(self.tenant.id, state=ImportJob.ACTIVE, image_id='img-3',
                 image_name='older', checksum_verified='sha256')

        table = self.client.get(INDEX_URL).content.decode()
        page = self.detail(signed)

        self.assertIn('Checksum matched; signed by Cloud Images', table)
        self.assertIn('Not verified: no checksum published', table)
        self.assertIn('Not verified: no checksum given or looked for', table)
        self.assertIn('>Checksum matched<', table)
        self.assertContains(page, 'SHA256SUMS, found beside the image')
        self.assertContains(page, 'signed by Cloud Images '
                                  '&lt;images@example.org&gt; (E4E1E754)')
        self.assertContains(page, 'sha256:' + 'ab' * 32)

    def test_the_page_offers_images_that_held_the_same_bytes(self):
        job = make_job(self.tenant.id, state=ImportJob.ACTIVE,
                       image_id='img-new')
        self.mock_identical_images.return_value = [types.SimpleNamespace(
            id='img-old', name='cirros from last week', disk_format='qcow2',
            visibility='private')]

        page = self.detail(job)

        self.mock_identical_images.assert_called_once_with(mock.ANY,
                                                           'img-new')
        self.assertContains(page, 'already held the same bytes')
        self.assertContains(page, 'cirros from last week</a> (qcow2, '
                                  'private)')

    def detail(self, job):
        return self.client.get(reverse(
            'horizon:project:image_imports:detail', args=[job.pk]))

    def test_a_failed_jobs_page_says_what_was_not_reached(self):
        job = make_job(self.tenant.id, state=ImportJob.FAILED,
                       expected_checksum='sha256:' + 'cd' * 32,
                       error_code='http_status',
                       error_params={'status': 404, 'reason': 'Not Found'})

        res = self.detail(job)

        self.assertContains(res, 'Not reached: the import ended before its '
                                 'format was known')
        self.assertContains(res, 'Not verified: the import ended before '
                                 'the checksum was checked.')
        self.assertNotContains(res, 'To be verified')
        self.assertNotContains(res, 'Not yet known')

    def test_a_checksum_mismatch_shows_both_values_apart(self):
        job = make_job(self.tenant.id, state=ImportJob.FAILED,
                       source_format='qcow2',
                       expected_checksum='sha256:' + 'cd' * 32,
                       error_code='checksum_mismatch',
                       error_params={'algorithm': 'sha256',
                                     'expected': 'cd' * 32,
                                     'actual': 'ef' * 32})

        res = self.detail(job)

        self.assertContains(res, '<dt>Expected</dt><dd><code>sha256:%s'
                                 '</code></dd>' % ('cd' * 32), html=False)
        self.assertContains(res, '<dt>Computed</dt><dd><code>sha256:%s'
                                 '</code></dd>' % ('ef' * 32), html=False)
        self.assertContains(res, 'Did not match the expected checksum')

    def test_timestamps_have_seconds(self):
        job = make_job(self.tenant.id, state=ImportJob.ACTIVE, image_id='i',
                       phases=[{'phase': 'downloading',
                                'start': '2026-11-27T10:00:07+00:00',
                                'end': '2026-11-27T10:00:42+00:00'}])

        res = self.detail(job)

        self.assertContains(res, '2026-11-27 10:00:07')
        self.assertContains(res, '2026-11-27 10:00:42')

    def test_an_image_deleted_since_is_said_so_with_no_link(self):
        job = make_job(self.tenant.id, state=ImportJob.ACTIVE,
                       image_id='img-gone')
        self.mock_image_exists.return_value = False

        res = self.detail(job)

        self.assertContains(res, 'the image has since been deleted from the '
                                 'Image service')
        self.assertContains(res, 'img-gone, deleted since')
        self.assertNotContains(res, 'href="/project/images/img-gone/"')
        self.mock_image_exists.assert_called_once_with(mock.ANY, 'img-gone')

    def test_an_image_still_there_is_linked(self):
        job = make_job(self.tenant.id, state=ImportJob.ACTIVE,
                       image_id='img-here')

        res = self.detail(job)

        self.assertContains(res, '>img-here</a>')
        self.assertNotContains(res, 'deleted since')

    def test_a_running_jobs_page_shows_its_progress_and_actions(self):
        job = make_job(self.tenant.id, state=ImportJob.DOWNLOADING,
                       phase_started_at=timezone.now(), bytes_done=10,
                       bytes_total=40)

        res = self.detail(job)

        self.assertContains(res, 'data-running="1"')
        self.assertContains(res, '1 of 2: downloading')
        self.assertContains(res, 'action="%s"' % INDEX_URL)
        self.assertContains(res, 'id="image_imports__row_%s__action_cancel"'
                            % job.pk)
        self.assertNotContains(res, '__action_retry"')

    def test_a_finished_jobs_page_stops_following_it(self):
        job = make_job(self.tenant.id, state=ImportJob.FAILED,
                       error_code='http_status',
                       error_params={'status': 404, 'reason': 'Not Found'})

        res = self.detail(job)

        self.assertContains(res, 'data-running="0"')
        self.assertContains(res, 'id="image_imports__row_%s__action_retry"'
                            % job.pk)
        self.assertNotContains(res, '__action_cancel"')

    def test_a_cancel_from_the_job_page_cancels_it(self):
        job = make_job(self.tenant.id, state=ImportJob.DOWNLOADING)

        self.client.post(INDEX_URL, action('cancel', job))

        self.assertEqual(ImportJob.CANCELLED,
                         ImportJob.objects.get(pk=job.pk).state)

    def test_detail_page_of_another_project_is_404(self):
        theirs = make_job('another-project')
        res = self.client.get(reverse('horizon:project:image_imports:detail',
                                      args=[theirs.pk]))
        self.assertEqual(404, res.status_code)

    def test_admin_panel_is_not_for_members(self):
        res = self.client.get(ADMIN_URL)
        self.assertEqual(403, res.status_code)


class LaunchActionTests(dashboard_helpers.TestCase):

    def test_active_job_offers_launch_instance_on_its_image(self):
        make_job(self.tenant.id, state=ImportJob.ACTIVE, image_id='img-42')

        res = self.client.get(INDEX_URL)

        self.assertContains(res, 'Launch Instance')
        self.assertContains(res, "imageId: &#x27;img-42&#x27;")

    def test_running_job_offers_no_launch(self):
        make_job(self.tenant.id, state=ImportJob.UPLOADING)
        res = self.client.get(INDEX_URL)
        self.assertNotContains(res, 'Launch Instance')


class RowActionPolicyTests(dashboard_helpers.TestCase):
    """Row actions ask the job's state first, then the policy, once a
    request (tools/bench_web.py: policy checks per row and action were a
    third of the table's time)."""

    def test_a_refused_rule_hides_its_action_on_every_row(self):
        for n in range(3):
            make_job(self.tenant.id, state=ImportJob.ACTIVE,
                     image_id='img-%d' % n)
        asked = []

        def check(rules, request, target=None):
            asked.append(tuple(rules))
            return ('image', 'delete_image') not in rules

        with self.settings(POLICY_CHECK_FUNCTION=check):
            res = self.client.get(INDEX_URL)

        self.assertEqual(0, row_actions(res, 'delete_with_image'))
        self.assertEqual(3, row_actions(res, 'delete'))
        self.assertEqual(3, row_actions(res, 'launch'))
        # Once a request for each rule, not once a row.
        self.assertEqual(1, asked.count((('image', 'delete_image'),)))
        self.assertEqual(1, asked.count(LAUNCH_RULES))

    def test_an_action_the_state_rules_out_asks_no_policy(self):
        make_job(self.tenant.id, state=ImportJob.DOWNLOADING)
        asked = []

        def check(rules, request, target=None):
            asked.append(tuple(rules))
            return True

        with self.settings(POLICY_CHECK_FUNCTION=check):
            res = self.client.get(INDEX_URL)

        self.assertEqual(1, row_actions(res, 'cancel'))
        self.assertNotIn((('image', 'delete_image'),), asked)
        self.assertNotIn(LAUNCH_RULES, asked)


class ProgressCellTests(dashboard_helpers.TestCase):
    """The Progress cell says which step a running job is at, of how
    many, and how far the whole import is."""

    def cell(self, **fields):
        job = make_job(self.tenant.id, state=fields.pop('state'),
                       phase_started_at=timezone.now(), **fields)
        return str(import_tables.progress(job))

    def test_a_conversion_is_a_step_of_its_own(self):
        cell = self.cell(state=ImportJob.CONVERTING, disk_format='raw',
                         source_format='qcow2', bytes_done=50,
                         bytes_total=100)

        self.assertIn('2 of 3: converting', cell)
        self.assertIn('aria-valuenow="50"', cell)   # (1 + 0.5) / 3
        self.assertIn('50% overall', cell)

    def test_an_image_kept_as_it_is_has_two_steps(self):
        cell = self.cell(state=ImportJob.DOWNLOADING, bytes_done=25,
                         bytes_total=100)

        self.assertIn('1 of 2: downloading', cell)
        self.assertIn('aria-valuenow="12"', cell)   # 0.25 / 2
        self.assertIn('25%', cell)

    def test_a_format_asked_for_and_found_needs_no_conversion(self):
        cell = self.cell(state=ImportJob.UPLOADING, disk_format='qcow2',
                         source_format='qcow2', bytes_done=0,
                         bytes_total=100)

        self.assertIn('2 of 2: uploading', cell)
