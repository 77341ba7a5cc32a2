"""View tests for Project > Compute > Image Imports, with Horizon's helpers."""

import html
import re
import tempfile
import threading
import time
import types
from unittest import mock
import uuid

from django.conf import settings as django_settings
from django.core.cache import cache
from django.urls import reverse

from image_importer import crypto
from image_importer.dashboards.project.image_imports import checks
from image_importer.dashboards.project.image_imports import tables as \
    import_tables
from image_importer.engine import checksum
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import preview
from image_importer.engine import provenance
from image_importer.engine import signature
from image_importer.models import ImportJob
from tests.unit.dashboards import helpers as dashboard_helpers
from tests.unit.factories import make_job
from tools import images

INDEX_URL = reverse('horizon:project:image_imports:index')
CREATE_URL = reverse('horizon:project:image_imports:create')
CHECK_URL = reverse('horizon:project:image_imports:check')
GIB = 1024 ** 3


def checked_qcow2(virtual_size):
    """What checking a qcow2 of ``virtual_size`` bytes finds."""
    return checks.Checked(
        found=fetch.Probe(url='https://images.example.org/x.img',
                          size=64 << 20, content_type='', file_name='x.img',
                          resumable=True),
        look=preview.Preview('qcow2', virtual_size, None, None, None))


def qcow2_head(virtual_size):
    """The first bytes of a sparse qcow2 of ``virtual_size`` bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = images.make_sparse_qcow2(folder, 'disk.qcow2', virtual_size)
        with open(path, 'rb') as f:
            return f.read()


def qcow2_probe(name):
    """What probing a 64 MiB qcow2 of 1 GiB called ``name`` finds."""
    return fetch.Probe(url='https://images.example.org/' + name,
                       size=64 << 20, content_type='', file_name=name,
                       resumable=True, head=qcow2_head(GIB))


def one_window():
    """Checks counted in one window of the rate, wherever the clock is
    (a test that straddled a window's end would see its count reset)."""
    return mock.patch.object(checks, 'time', mock.Mock(time=lambda: 6e6))


def details_field(res, name):
    step = res.context['workflow'].get_step('details')
    return step.action.fields[name]


class ImageImportsViewTests(dashboard_helpers.TestCase):

    def test_index_lists_only_this_projects_jobs_newest_first(self):
        older = make_job(self.tenant.id, image_name='older')
        newer = make_job(self.tenant.id, image_name='newer')
        make_job('another-project', image_name='theirs')

        res = self.client.get(INDEX_URL)

        self.assertTemplateUsed(res, 'horizon/common/_data_table_view.html')
        rows = res.context['table'].data
        self.assertEqual([newer.pk, older.pk], [job.pk for job in rows])
        self.assertNotContains(res, 'theirs')
        self.assertContains(res, 'Import Image')

    def test_index_shows_failure_reason_and_image_link(self):
        make_job(self.tenant.id, state=ImportJob.FAILED,
                 error_code='http_status',
                 error_params={'status': 404, 'reason': 'Not Found'})
        done = make_job(self.tenant.id, state=ImportJob.ACTIVE,
                        image_id='5b0a1e5c-6f1a-4f1e-9d8c-0b4b0d4c1a11')

        res = self.client.get(INDEX_URL)

        self.assertContains(res, 'The server answered 404 Not Found')
        # The Image column links to the image's page, by its name.
        self.assertContains(
            res, '<a href="%s" >%s</a>' % (reverse(
                'horizon:project:images:images:detail',
                args=[done.image_id]), done.image_name))

    def test_long_texts_are_cut_and_whole_on_hover(self):
        make_job(self.tenant.id, state=ImportJob.FAILED,
                 source_url='https://images.example.org/' +
                 'a-very-long-file-name' * 5 + '.qcow2',
                 error_code='checksum_mismatch',
                 error_params={'algorithm': 'sha256', 'expected': 'ab' * 32,
                               'actual': 'cd' * 32})

        res = self.client.get(INDEX_URL)

        [row] = res.context['table'].get_rows()
        for column, length in (('progress', 90), ('source', 32)):
            cell = str(row.cells[column].data)
            shown = html.unescape(re.sub(r'<[^>]+>', '', cell))
            self.assertLessEqual(len(shown), length, cell)
            self.assertTrue(shown.endswith('\u2026'), cell)
        self.assertIn('title="The file\'s sha256 checksum is %s'
                      % ('cd' * 32), str(row.cells['progress'].data)
                      .replace('&#x27;', "'"))
        self.assertIn('a-very-long-file-name' * 5,
                      str(row.cells['source'].data))

    def test_the_details_read_as_create_image_does(self):
        res = self.client.get(CREATE_URL)

        action = res.context['workflow'].get_step('details').action
        labels = {name: str(field.label)
                  for name, field in action.fields.items()}
        self.assertEqual({
            'name': 'Image Name', 'description': 'Image Description',
            'disk_format': 'Format', 'architecture': 'Architecture',
            'os_distro': 'OS Distribution', 'os_version': 'OS Version',
            'min_disk': 'Minimum Disk (GB)', 'min_ram': 'Minimum RAM (MB)',
            'visibility': 'Visibility', 'protected': 'Protected'}, labels)
        self.assertEqual(0, action.fields['min_ram'].initial)

    def test_every_help_text_is_where_aria_describedby_points(self):
        page = self.client.get(CREATE_URL).content.decode()

        ids = set(re.findall(r' id="([^"]+)"', page))
        described = re.findall(r'aria-describedby="([^"]+)"', page)
        self.assertIn('id_source_url_helptext', described)
        self.assertEqual([], [name for name in described if name not in ids])
        self.assertIn('<span id="id_min_disk_helptext" class="sr-only">'
                      'The minimum disk size', page)

    def test_create_form_renders_with_automatic_format(self):
        res = self.client.get(CREATE_URL)

        self.assertTemplateUsed(res, 'horizon/common/_workflow_base.html')
        choices = dict(details_field(res, 'disk_format').choices)
        self.assertIn('', choices)
        self.assertIn('raw', choices)
        self.assertIn('qcow2', choices)
        self.assertNotIn('aki', choices)

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_create_records_job_and_queues_after_commit(self, enqueue):
        form = {'source_url': 'https://bob:s3cret@images.example.org/'
                              'path/jammy-server-cloudimg-amd64.img',
                'name': '', 'disk_format': 'raw', 'visibility': 'private',
                'min_disk': 2, 'min_ram': 512, 'architecture': 'x86_64'}

        with self.captureOnCommitCallbacks(execute=True):
            res = self.client.post(CREATE_URL, form)

        self.assertNoWorkflowErrors(res)
        self.assertRedirectsNoFollow(res, INDEX_URL)
        job = ImportJob.objects.get()
        self.assertEqual(self.tenant.id, job.project_id)
        self.assertEqual(self.user.id, job.user_id)
        self.assertEqual('jammy-server-cloudimg-amd64.img', job.image_name)
        self.assertEqual('https://images.example.org/path/'
                         'jammy-server-cloudimg-amd64.img', job.source_url)
        self.assertNotIn('s3cret', job.source_credentials)
        self.assertEqual('bob:s3cret', crypto.decrypt(job.source_credentials))
        self.assertNotIn(self.token.id, job.auth_token)
        self.assertEqual(self.token.id, crypto.decrypt(job.auth_token))
        self.assertEqual(('raw', 2, 512, 'x86_64', 'private'),
                         (job.disk_format, job.min_disk, job.min_ram,
                          job.architecture, job.visibility))
        self.assertEqual(ImportJob.QUEUED, job.state)
        enqueue.assert_called_once_with(job.pk)

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_create_rejects_bad_url_and_keeps_input(self, enqueue):
        form = {'source_url': 'ftp://images.example.org/a.img',
                'name': 'kept name', 'visibility': 'private'}

        res = self.client.post(CREATE_URL, form)

        self.assertWorkflowErrors(res, 1)
        self.assertContains(res, 'Enter a full URL starting with http://')
        self.assertContains(res, 'kept name')
        self.assertFalse(ImportJob.objects.exists())
        enqueue.assert_not_called()

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_create_needs_a_name_when_url_has_no_file_name(self, enqueue):
        res = self.client.post(CREATE_URL, {
            'source_url': 'https://images.example.org/',
            'visibility': 'private'})

        self.assertWorkflowErrors(res, 1)
        self.assertContains(res, 'The URL has no file name')
        self.assertFalse(ImportJob.objects.exists())

    def test_create_offers_public_only_with_publicize_policy(self):
        with mock.patch('openstack_dashboard.policy.check',
                        return_value=False):
            res = self.client.get(CREATE_URL)
        choices = dict(details_field(res, 'visibility').choices)
        self.assertNotIn('public', choices)
        self.assertEqual('private', details_field(res, 'visibility').initial)

    def test_row_update_returns_the_row(self):
        job = make_job(self.tenant.id, state=ImportJob.DOWNLOADING,
                       bytes_done=512, bytes_total=1024)

        res = self.client.get(INDEX_URL, {
            'action': 'row_update', 'table': 'image_imports',
            'obj_id': str(job.pk)},
            HTTP_X_REQUESTED_WITH='XMLHttpRequest')

        self.assertEqual(200, res.status_code)
        self.assertContains(res, 'Downloading')
        self.assertContains(res, '50%')
        # Horizon's table script polls rows that are "warning ajax-update".
        self.assertContains(res, 'class="ajax-update warning"')

    def test_row_update_of_finished_job_stops_polling(self):
        job = make_job(self.tenant.id, state=ImportJob.ACTIVE,
                       image_id='5b0a1e5c-6f1a-4f1e-9d8c-0b4b0d4c1a11')

        res = self.client.get(INDEX_URL, {
            'action': 'row_update', 'table': 'image_imports',
            'obj_id': str(job.pk)},
            HTTP_X_REQUESTED_WITH='XMLHttpRequest')

        self.assertContains(res, 'Active')
        self.assertContains(res, 'class="ajax-update status_up"')
        self.assertNotContains(res, 'warning')

    def test_row_update_of_another_projects_job_is_404(self):
        theirs = make_job('another-project')

        res = self.client.get(INDEX_URL, {
            'action': 'row_update', 'table': 'image_imports',
            'obj_id': str(theirs.pk)},
            HTTP_X_REQUESTED_WITH='XMLHttpRequest')

        self.assertEqual(404, res.status_code)

    def test_row_update_of_unknown_or_malformed_id_is_404(self):
        for obj_id in (str(uuid.uuid4()), 'not-a-uuid'):
            res = self.client.get(INDEX_URL, {
                'action': 'row_update', 'table': 'image_imports',
                'obj_id': obj_id}, HTTP_X_REQUESTED_WITH='XMLHttpRequest')
            self.assertEqual(404, res.status_code, obj_id)

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_create_stores_checksum_choices(self, enqueue):
        url = 'https://images.example.org/a.qcow2'
        for extra, field, value in (
                ({'expected_checksum': ' sha256:' + 'AB' * 32 + ' '},
                 'expected_checksum', 'sha256:' + 'AB' * 32),
                ({'checksum_url': 'https://images.example.org/SHA256SUMS'},
                 'checksum_url', 'https://images.example.org/SHA256SUMS')):
            with self.captureOnCommitCallbacks(execute=True):
                res = self.client.post(CREATE_URL, dict(
                    source_url=url, visibility='private', **extra))
            self.assertNoWorkflowErrors(res)
            job = ImportJob.objects.latest('created_at')
            self.assertEqual(value, getattr(job, field))

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_the_user_may_import_without_the_published_checksum(
            self, enqueue):
        url = 'https://images.example.org/a.qcow2'
        for extra, finds in (({}, True),
                             ({'skip_published_checksum': 'on'}, False)):
            with self.captureOnCommitCallbacks(execute=True):
                res = self.client.post(CREATE_URL, dict(
                    source_url=url, visibility='private', **extra))
            self.assertNoWorkflowErrors(res)
            job = ImportJob.objects.latest('created_at')
            self.assertEqual(finds, job.find_checksum)
            res = self.client.get(CREATE_URL, {'retry_of': job.pk})
            action = res.context['workflow'].get_step('source').action
            self.assertEqual(not finds,
                             action.initial['skip_published_checksum'])

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_no_checksum_is_refused_where_a_signature_is_required(
            self, enqueue):
        importer = dict(django_settings.IMAGE_IMPORTER,
                        REQUIRE_SIGNATURE=['images.example.org'])
        with self.settings(IMAGE_IMPORTER=importer):
            res = self.client.post(CREATE_URL, {
                'source_url': 'https://images.example.org/a.qcow2',
                'visibility': 'private', 'skip_published_checksum': 'on'})

        self.assertWorkflowErrors(res, 1)
        self.assertContains(res, 'This cloud imports images from '
                                 'images.example.org only with a checksum '
                                 'file signed by a key it trusts')
        self.assertFalse(ImportJob.objects.exists())

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_create_rejects_bad_checksum_input(self, enqueue):
        url = 'https://images.example.org/a.qcow2'
        cases = (
            ({'expected_checksum': 'abc123'}, 'is not a checksum'),
            ({'expected_checksum': 'a' * 64,
              'checksum_url': 'https://images.example.org/SUMS'},
             'not both'),
            ({'checksum_url': 'https://u:p@images.example.org/SUMS'},
             'only in the source URL'),
        )
        for extra, message in cases:
            res = self.client.post(CREATE_URL, dict(
                source_url=url, visibility='private', **extra))
            self.assertWorkflowErrors(res, 1)
            self.assertContains(res, message)
        self.assertFalse(ImportJob.objects.exists())
        enqueue.assert_not_called()

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_every_create_image_field_reaches_the_job(self, enqueue):
        kernel = self.images.first()
        kernel.disk_format = 'aki'
        self.mock_image_list_detailed.return_value = ([kernel], False, False)
        form = {'source_url': 'https://images.example.org/'
                              'noble-server-cloudimg-arm64.img',
                'name': 'noble', 'description': 'Ubuntu 24.04',
                'disk_format': 'qcow2', 'kernel': kernel.id,
                'min_disk': 3, 'min_ram': 1024, 'visibility': 'shared',
                'protected': 'on',
                'metadata': 'hw_disk_bus=virtio\n\nhw_qemu_guest_agent=yes'}

        with self.captureOnCommitCallbacks(execute=True):
            res = self.client.post(CREATE_URL, form)

        self.assertNoWorkflowErrors(res)
        job = ImportJob.objects.get()
        self.assertEqual(
            ('noble', 'Ubuntu 24.04', 'qcow2', kernel.id, '', 3, 1024,
             'shared', True, 'aarch64'),
            (job.image_name, job.description, job.disk_format, job.kernel_id,
             job.ramdisk_id, job.min_disk, job.min_ram, job.visibility,
             job.protected, job.architecture))
        # The OS suggested from the file name, applied as properties.
        self.assertEqual({'hw_disk_bus': 'virtio',
                          'hw_qemu_guest_agent': 'yes',
                          'os_distro': 'ubuntu', 'os_version': '24.04'},
                         job.properties)

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_what_the_start_of_the_file_says_is_applied(self, enqueue):
        self._setup_user(tenant_name=self.tenant.name)
        self.mock_check.return_value = checked_qcow2(3 * GIB + 1)
        form = {'source_url': 'https://images.example.org/'
                              'jammy-server-cloudimg-s390x.img',
                'os_version': '22.04.5', 'visibility': 'private'}

        with self.captureOnCommitCallbacks(execute=True):
            res = self.client.post(CREATE_URL, form)

        self.assertNoWorkflowErrors(res)
        job = ImportJob.objects.get()
        self.assertEqual((4, 's390x', {'os_distro': 'ubuntu',
                                       'os_version': '22.04.5'}),
                         (job.min_disk, job.architecture, job.properties))
        self.assertEqual(self.tenant.name, job.project_name)

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_a_target_the_file_cannot_become_is_refused_at_the_form(
            self, enqueue):
        self.mock_check.return_value = checked_qcow2(2 * GIB)
        for disk_format, message in (
                ('iso', 'This file (x.img) is a qcow2 disk image, not an '
                        'installer ISO'),
                ('raw', 'Made raw, this image would be')):
            with self.settings(IMAGE_IMPORTER={'MAX_IMAGE_SIZE': GIB}):
                res = self.client.post(CREATE_URL, {
                    'source_url': 'https://images.example.org/jammy.img',
                    'disk_format': disk_format, 'visibility': 'private'})
            self.assertWorkflowErrors(res, 1)
            self.assertEqual([message], [
                str(e)[:len(message)] for e in
                res.context['workflow'].get_step('details').action
                .errors['disk_format']])
        self.assertFalse(ImportJob.objects.exists())

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_a_url_known_to_be_bad_is_refused_at_the_form(self, enqueue):
        for failure, message in (
                (ImportFailure('http_status', status=404,
                               reason='Not Found'), 'answered 404'),
                (ImportFailure('web_page'), 'This is a web page')):
            self.mock_check.return_value = checks.Checked(failure=failure)
            res = self.client.post(CREATE_URL, {
                'source_url': 'https://images.example.org/jammy.img',
                'visibility': 'private'})
            self.assertWorkflowErrors(res, 1)
            errors = res.context['workflow'].get_step('source').action.errors
            self.assertIn(message, errors['source_url'][0])
        self.assertFalse(ImportJob.objects.exists())

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_a_url_that_cannot_be_checked_now_is_queued_saying_so(
            self, enqueue):
        self.mock_check.return_value = checks.Checked(
            unchecked='Could not connect to images.example.org')

        with self.captureOnCommitCallbacks(execute=True):
            res = self.client.post(CREATE_URL, {
                'source_url': 'https://images.example.org/jammy.img',
                'visibility': 'private'}, follow=True)

        self.assertNoWorkflowErrors(res)
        self.assertEqual(1, ImportJob.objects.count())
        self.assertIn('could not be checked now (Could not connect',
                      ' '.join(str(m) for m in res.context['messages']))

    def test_the_metadata_step_offers_the_metadata_catalog(self):
        self.mock_metadata_catalog.return_value = [{
            'title': 'libvirt Driver Options for Images', 'description': '',
            'properties': [{'name': 'hw_disk_bus', 'title': 'Disk Bus',
                            'description': 'The disk controller.',
                            'type': 'string', 'enum': ['scsi', 'virtio'],
                            'default': ''}]}]

        res = self.client.get(CREATE_URL)

        self.assertContains(res, 'Available Metadata')
        self.assertContains(res, 'data-key="hw_disk_bus"')
        self.assertContains(res, 'aria-label="Add Disk Bus"')
        self.assertContains(res, 'The disk controller. Values: scsi, virtio')
        # What the other steps set is not offered again.
        exclude = self.mock_metadata_catalog.call_args[1]['exclude']
        self.assertLessEqual({'os_distro', 'os_version', 'architecture',
                              'min_disk'}, exclude)

    def test_the_metadata_step_works_without_the_catalog(self):
        self.mock_metadata_catalog.return_value = None

        res = self.client.get(CREATE_URL)

        self.assertContains(res, 'The Metadata Catalog cannot be read now')
        self.assertContains(res, 'name="metadata"')

    def test_edit_and_retry_fills_the_form_as_it_was(self):
        old = make_job(self.tenant.id, state=ImportJob.FAILED,
                       image_name='jammy', disk_format='iso', min_disk=3,
                       visibility='shared', architecture='s390x',
                       checksum_url='https://images.example.org/SHA256SUMS',
                       properties={'os_distro': 'ubuntu',
                                   'hw_disk_bus': 'virtio'})

        res = self.client.get(CREATE_URL, {'retry_of': old.pk})

        workflow = res.context['workflow']
        values = {name: workflow.get_step(step).action.initial.get(name)
                  for step, names in (
                      ('source', ('source_url', 'checksum_url', 'retry_of')),
                      ('details', ('name', 'disk_format', 'min_disk',
                                   'visibility', 'architecture',
                                   'os_distro')),
                      ('metadata', ('metadata',)))
                  for name in names}
        self.assertEqual({
            'source_url': old.source_url,
            'checksum_url': 'https://images.example.org/SHA256SUMS',
            'retry_of': str(old.pk), 'name': 'jammy', 'disk_format': 'iso',
            'min_disk': 3, 'visibility': 'shared', 'architecture': 's390x',
            'os_distro': 'ubuntu', 'metadata': 'hw_disk_bus=virtio'}, values)

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_edit_and_retry_replaces_the_old_record(self, enqueue):
        old = make_job(self.tenant.id, state=ImportJob.FAILED,
                       user_id=self.user.id, image_name='jammy',
                       disk_format='iso',
                       source_credentials=crypto.encrypt('bob:pw'))

        with self.captureOnCommitCallbacks(execute=True):
            res = self.client.post(CREATE_URL, {
                'source_url': old.source_url, 'retry_of': old.pk,
                'name': 'jammy', 'disk_format': '',
                'visibility': 'private'})

        self.assertNoWorkflowErrors(res)
        [new] = ImportJob.objects.all()
        self.assertNotEqual(old.pk, new.pk)
        self.assertEqual(('jammy', ''), (new.image_name, new.disk_format))
        # The owner's retry of the same URL keeps its password.
        self.assertEqual('bob:pw', crypto.decrypt(new.source_credentials))
        enqueue.assert_called_once_with(new.pk)

    def test_edit_and_retry_of_another_projects_job_is_404(self):
        theirs = make_job('another-project', state=ImportJob.FAILED)

        res = self.client.get(CREATE_URL, {'retry_of': theirs.pk})

        self.assertEqual(404, res.status_code)

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_edit_and_retry_cannot_replace_another_projects_job(
            self, enqueue):
        theirs = make_job('another-project', state=ImportJob.FAILED)

        res = self.client.post(CREATE_URL, {
            'source_url': theirs.source_url, 'retry_of': theirs.pk,
            'visibility': 'private'})

        self.assertEqual(404, res.status_code)
        self.assertEqual([theirs.pk], [j.pk for j in ImportJob.objects.all()])
        enqueue.assert_not_called()

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_submits_count_against_the_rate_of_checks(self, enqueue):
        # Refused submits queue nothing, so the queued limits never see
        # them: the checks they make share Check URL's rate.
        cache.clear()
        self.mock_check.return_value = checks.Checked(
            failure=ImportFailure('http_status', status=404,
                                  reason='Not Found'))
        with self.settings(IMAGE_IMPORTER={'CHECK_URL_RATE': (2, 60)}), \
                one_window():
            for _n in range(4):
                self.client.post(CREATE_URL, {
                    'source_url': 'https://images.example.org/jammy.img',
                    'visibility': 'private'})
        self.assertEqual(2, self.mock_check.call_count)
        # Past the rate, the URL is queued unchecked, under the limits.
        self.assertEqual(2, ImportJob.objects.count())

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_reserved_properties_are_refused(self, enqueue):
        for line in ('owner=someone', 'os_glance_import_task=x',
                     'locations=[]', 'os_hidden=true', 'no equals sign'):
            res = self.client.post(CREATE_URL, {
                'source_url': 'https://images.example.org/a.qcow2',
                'visibility': 'private', 'metadata': line})
            self.assertWorkflowErrors(res, 1)
        self.assertFalse(ImportJob.objects.exists())

    def test_kernel_and_ramdisk_choices_come_from_one_glance_list(self):
        kernel, ramdisk, other = self.images.list()[:3]
        kernel.disk_format, ramdisk.disk_format = 'aki', 'ari'
        self.mock_image_list_detailed.return_value = (
            [kernel, ramdisk, other], False, False)

        res = self.client.get(CREATE_URL)

        self.mock_image_list_detailed.assert_called_once_with(
            mock.ANY, filters={'disk_format': 'in:aki,ari'})
        self.assertEqual(['', kernel.id],
                         [v for v, _ in details_field(res, 'kernel').choices])
        self.assertEqual(['', ramdisk.id],
                         [v for v, _ in details_field(res, 'ramdisk').choices])

    def test_kernel_and_ramdisk_are_hidden_without_such_images(self):
        res = self.client.get(CREATE_URL)
        fields = res.context['workflow'].get_step('details').action.fields
        self.assertNotIn('kernel', fields)
        self.assertNotIn('ramdisk', fields)

    def test_operator_sets_the_default_format(self):
        with self.settings(IMAGE_IMPORTER={'DEFAULT_DISK_FORMAT': 'raw'}):
            res = self.client.get(CREATE_URL)
        self.assertEqual('raw', details_field(res, 'disk_format').initial)

    def test_index_pages_through_many_jobs_newest_first(self):
        made = [make_job(self.tenant.id, image_name='job-%03d' % n)
                for n in range(45)]
        newest_first = [job.pk for job in reversed(made)]

        seen = []
        res = self.client.get(INDEX_URL)
        while True:
            table = res.context['table']
            seen += [job.pk for job in table.data]
            if not table.has_more_data():
                break
            res = self.client.get(INDEX_URL + '?' +
                                  table.get_pagination_string())
        self.assertEqual(newest_first, seen)

        back = res.context['table'].get_prev_pagination_string()
        res = self.client.get(INDEX_URL + '?' + back)
        self.assertEqual(newest_first[20:40],
                         [job.pk for job in res.context['table'].data])

    def test_a_bad_pagination_marker_gives_the_first_page(self):
        job = make_job(self.tenant.id, image_name='only-one')
        table = import_tables.ImportJobsTable._meta
        for marker in ('not-a-uuid', "1' OR '1'='1", '0' * 40,
                       str(uuid.uuid4())):
            for param in (table.pagination_param,
                          table.prev_pagination_param):
                res = self.client.get(INDEX_URL, {param: marker})
                self.assertEqual(200, res.status_code, (param, marker))
                self.assertEqual([job.pk], [
                    j.pk for j in res.context['table'].data])

    def test_index_filters_by_name_and_status(self):
        make_job(self.tenant.id, image_name='ubuntu-noble')
        make_job(self.tenant.id, image_name='debian-trixie',
                 state=ImportJob.FAILED)
        for field, value, expected in (('name', 'noble', 'ubuntu-noble'),
                                       ('state', 'failed', 'debian-trixie'),
                                       ('state', 'Failed', 'debian-trixie')):
            res = self.client.post(INDEX_URL, {
                'image_imports__filter__q': value,
                'image_imports__filter__q_field': field}, follow=True)
            names = [job.image_name for job in res.context['table'].data]
            self.assertEqual([expected], names, (field, value))


class CheckURLTests(dashboard_helpers.TestCase):
    """The Source step's Check URL. Horizon's test case refuses real HTTP
    calls, so the probe is mocked here; engine/test_fetch.py runs it
    against a real server."""

    mock_source_check = False

    def setUp(self):
        super().setUp()
        cache.clear()       # the per-user rate of checks
        # No checksum file beside any file, unless a test says otherwise.
        patcher = mock.patch.object(provenance, 'establish',
                                    return_value=provenance.Provenance())
        self.establish = patcher.start()
        self.addCleanup(patcher.stop)

    def check(self, url):
        return self.client.post(CHECK_URL, {'url': url})

    @mock.patch('image_importer.engine.fetch.probe')
    def test_check_answers_within_its_deadline(self, probe):
        # A server that trickles its answer holds a dashboard thread only
        # as long as the deadline.
        release = threading.Event()
        probe.side_effect = lambda *args: release.wait(30)
        started = time.monotonic()
        try:
            with self.settings(IMAGE_IMPORTER={'CHECK_URL_DEADLINE': 0.5}):
                res = self.check('https://slow.example.org/a.img')
        finally:
            release.set()
        self.assertEqual(504, res.status_code)
        self.assertIn('did not answer within', res.json()['error'])
        self.assertLess(time.monotonic() - started, 10)

    @mock.patch('image_importer.engine.fetch.probe')
    def test_checks_are_limited_per_user(self, probe):
        probe.side_effect = ImportFailure('http_status', status=404,
                                          reason='Not Found')
        with self.settings(IMAGE_IMPORTER={'CHECK_URL_RATE': (3, 60)}), \
                one_window():
            codes = [self.check('https://x.example.org/%d' % n).status_code
                     for n in range(5)]
            res = self.check('https://x.example.org/again')
        self.assertEqual([400, 400, 400, 429, 429], codes)
        self.assertIn('Too many checks', res.json()['error'])
        self.assertEqual(3, probe.call_count)

    @mock.patch('image_importer.worker.tasks.enqueue')
    @mock.patch('image_importer.engine.fetch.probe')
    def test_edit_and_retry_checks_with_the_sources_password(
            self, probe, enqueue):
        # The owner's retry of a password-protected source sends its
        # password again, so the check at submit does too: without it the
        # server's 401 would refuse the form.
        url = 'https://images.example.org/private/disk.qcow2'

        def answer(fetcher, url, credentials):
            if credentials != 'bob:pw':
                raise ImportFailure('http_status', status=401,
                                    reason='Unauthorized')
            return fetch.Probe(url=url, size=64 << 20, content_type='',
                               file_name='disk.qcow2', resumable=True,
                               head=qcow2_head(GIB))
        probe.side_effect = answer
        old = make_job(self.tenant.id, state=ImportJob.FAILED,
                       user_id=self.user.id, source_url=url,
                       image_name='disk', disk_format='iso',
                       source_credentials=crypto.encrypt('bob:pw'))

        with self.captureOnCommitCallbacks(execute=True):
            res = self.client.post(CREATE_URL, {
                'source_url': url, 'retry_of': old.pk, 'name': 'disk',
                'disk_format': '', 'visibility': 'private'})

        self.assertNoWorkflowErrors(res)
        [new] = ImportJob.objects.all()
        self.assertEqual('bob:pw', crypto.decrypt(new.source_credentials))

    @mock.patch('image_importer.worker.tasks.enqueue')
    @mock.patch('image_importer.engine.fetch.probe')
    def test_another_members_retry_checks_without_the_password(
            self, probe, enqueue):
        probe.side_effect = ImportFailure('http_status', status=401,
                                          reason='Unauthorized')
        url = 'https://images.example.org/private/disk.qcow2'
        old = make_job(self.tenant.id, state=ImportJob.FAILED,
                       user_id='another-user', source_url=url,
                       source_credentials=crypto.encrypt('bob:pw'))

        res = self.client.post(CREATE_URL, {
            'source_url': url, 'retry_of': old.pk, 'name': 'disk',
            'disk_format': '', 'visibility': 'private'})

        self.assertIn('401', ' '.join(
            res.context['workflow'].get_step('source').action.errors[
                'source_url']))
        self.assertIsNone(probe.call_args[0][2])
        self.assertEqual([old.pk], [j.pk for j in ImportJob.objects.all()])

    def test_check_takes_no_url_in_a_query_string(self):
        # A URL's password would land in access logs.
        res = self.client.get(CHECK_URL, {'url': 'https://u:pw@x.example/a'})
        self.assertEqual(405, res.status_code)

    @mock.patch('image_importer.engine.fetch.probe')
    def test_check_reports_the_file_and_suggestions(self, probe):
        head = qcow2_head(2 * GIB)
        probe.return_value = fetch.Probe(
            url='https://images.example.org/jammy-server-cloudimg-amd64.img',
            size=64 * 1024 * 1024, content_type='application/octet-stream',
            file_name='jammy-server-cloudimg-amd64.img', resumable=True,
            head=head)

        with self.settings(IMAGE_IMPORTER={'URL_ALLOWLIST': ['10.0.0.0/8']}):
            res = self.check('https://bob:pw@images.example.org/'
                             'jammy-server-cloudimg-amd64.img')

        self.assertEqual(200, res.status_code)
        found = res.json()
        self.assertEqual(('jammy-server-cloudimg-amd64.img', 64 << 20, True),
                         (found['file_name'], found['size'],
                          found['resumable']))
        self.assertEqual({'architecture': 'x86_64', 'os_distro': 'ubuntu',
                          'os_version': '22.04', 'min_disk': 2},
                         found['suggestions'])
        self.assertEqual(('qcow2', 2 * GIB, ''),
                         (found['format'], found['virtual_size'],
                          found['refusal']))
        self.assertEqual('qcow2 disk image, 2.0\xa0GB virtual, '
                         '64.0\xa0MB file (named .img)',
                         found['description'])
        self.assertEqual('', found['raw_refusal'])
        fetcher, url, credentials = probe.call_args[0]
        self.assertEqual(('https://images.example.org/jammy-server-cloudimg'
                          '-amd64.img', 'bob:pw'), (url, credentials))
        self.assertEqual((5, ('10.0.0.0/8',)),
                         (fetcher.policy.connect_timeout,
                          fetcher.policy.allow))

    @mock.patch('image_importer.engine.fetch.probe')
    def test_check_says_when_the_disk_is_too_large_to_make_raw(self, probe):
        head = qcow2_head(2 * GIB)
        probe.return_value = fetch.Probe(
            url='https://images.example.org/big.qcow2', size=len(head),
            content_type='', file_name='big.qcow2', resumable=True,
            head=head, complete=True)

        with self.settings(IMAGE_IMPORTER={'MAX_IMAGE_SIZE': GIB}):
            found = self.check('https://images.example.org/big.qcow2').json()

        self.assertEqual('', found['refusal'])
        self.assertEqual(
            'Made raw, this image would be 2.0\xa0GB, more than the '
            '1.0\xa0GB this cloud accepts. Keep it as qcow2 (choose '
            'Automatic as the format): it stores only the part of the disk '
            'in use.', found['raw_refusal'])

    @mock.patch('image_importer.engine.fetch.probe')
    def test_check_tells_the_publishers_signed_checksum_file(self, probe):
        probe.return_value = qcow2_probe('jammy.img')
        self.establish.return_value = provenance.Provenance(
            checksum.Expected('sha256', 'a' * 64), provenance.FOUND,
            'https://images.example.org/SHA256SUMS', signature.SIGNED,
            'E4E1E754', 'Cloud Images <images@example.org>')

        found = self.check('https://images.example.org/jammy.img').json()

        self.assertEqual(
            'SHA256SUMS found beside it, with a sha256 line for jammy.img; '
            'signed by Cloud Images <images@example.org> (E4E1E754).',
            found['published']['text'])
        self.assertEqual('signed', found['published']['verification'])

    @mock.patch('image_importer.engine.fetch.probe')
    def test_check_offers_an_image_made_from_the_same_file(self, probe):
        probe.return_value = qcow2_probe('jammy.img')
        self.establish.return_value = provenance.Provenance(
            checksum.Expected('sha256', 'a' * 64), provenance.FOUND,
            'https://images.example.org/SHA256SUMS', signature.UNSIGNED)
        self.mock_images_from_source.return_value = [types.SimpleNamespace(
            id='img-7', name='Ubuntu 22.04', disk_format='qcow2',
            visibility='public')]

        found = self.check('https://images.example.org/jammy.img').json()

        self.mock_images_from_source.assert_called_once_with(
            mock.ANY, 'sha256:' + 'a' * 64)
        self.assertEqual([('img-7', 'Ubuntu 22.04', 'qcow2', 'public')],
                         [(i['id'], i['name'], i['disk_format'],
                           i['visibility']) for i in found['same_images']])
        self.assertTrue(found['same_images'][0]['url'].endswith('/img-7/'))

    @mock.patch('image_importer.engine.fetch.probe')
    def test_a_typed_checksum_finds_the_same_images(self, probe):
        probe.return_value = qcow2_probe('disk.img')

        self.client.post(CHECK_URL, {'url': 'https://images.example.org/'
                                            'disk.img',
                                     'checksum': 'SHA256:' + 'B' * 64})

        self.mock_images_from_source.assert_called_once_with(
            mock.ANY, 'sha256:' + 'b' * 64)

    @mock.patch('image_importer.engine.fetch.probe')
    def test_check_says_when_no_checksum_file_is_found(self, probe):
        probe.return_value = qcow2_probe('disk.img')

        found = self.check('https://images.example.org/disk.img').json()

        self.assertFalse(found['published']['found'])
        self.assertIn('No checksum file found', found['published']['text'])

    @mock.patch('image_importer.engine.fetch.probe')
    def test_check_refuses_a_bad_signature(self, probe):
        probe.return_value = qcow2_probe('disk.img')
        self.establish.side_effect = ImportFailure(
            'signature_bad', file='SHA256SUMS', signature='SHA256SUMS.gpg')

        res = self.check('https://images.example.org/disk.img')

        self.assertEqual(400, res.status_code)
        self.assertIn('does not match the checksum file SHA256SUMS',
                      res.json()['error'])

    @mock.patch('image_importer.engine.fetch.probe')
    def test_check_refuses_a_web_page(self, probe):
        probe.return_value = fetch.Probe(
            url='https://images.example.org/download', size=206,
            content_type='text/html', file_name='download', resumable=False,
            head=b'<!DOCTYPE html><html><body>...</body></html>',
            complete=True)

        res = self.check('https://images.example.org/download')

        self.assertEqual(400, res.status_code)
        self.assertIn('This is a web page, not an image file',
                      res.json()['error'])

    @mock.patch('image_importer.engine.fetch.probe')
    def test_a_server_error_is_no_verdict_on_the_url(self, probe):
        probe.side_effect = ImportFailure('http_status', status=503,
                                          reason='Service Unavailable')

        res = self.check('https://images.example.org/disk.img')

        self.assertEqual(504, res.status_code)
        self.assertIn('503 Service Unavailable', res.json()['error'])
        self.assertIn('submit it', res.json()['error'])

    def test_check_refuses_internal_addresses_like_the_worker(self):
        res = self.check('http://169.254.169.254/latest/meta-data/')

        self.assertEqual(400, res.status_code)
        self.assertIn('not an address this cloud downloads from',
                      res.json()['error'])

    def test_check_names_a_bad_url(self):
        # The last two pass Django's URL validator but not urllib: found
        # by fuzzing, they answered 500.
        for url in ('not a url', 'https://u:pw@images.example.org:99999/a',
                    'https://images.example.org:70000/a'):
            res = self.check(url)
            self.assertEqual(400, res.status_code, url)
            self.assertIn('Enter a full URL', res.json()['error'])
            self.assertNotIn('pw', res.json()['error'])
