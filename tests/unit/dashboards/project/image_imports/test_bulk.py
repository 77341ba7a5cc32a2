"""Import Many: URL lines and manifests, every error at once, all or
nothing."""

import json
from unittest import mock

from django.conf import settings as django_settings
from django.urls import reverse

from image_importer.dashboards.project.image_imports import bulk
from image_importer import jobs
from image_importer.models import ImportJob
from tests.unit.dashboards import helpers as dashboard_helpers

INDEX_URL = reverse('horizon:project:image_imports:index')
BULK_URL = reverse('horizon:project:image_imports:bulk')
MIRROR = 'https://images.example.org/'


def test_a_manifest_names_the_line_of_each_image():
    found = bulk.manifest(
        '# the catalogue\n'
        'images:\n'
        '  - %snoble.img\n'
        '  - url: %sdebian-12.qcow2\n'
        '    name: Debian 12\n' % (MIRROR, MIRROR))

    assert [(str(where), entry) for where, entry in found] == [
        ('Image 1 (line 3)', {'url': MIRROR + 'noble.img'}),
        ('Image 2 (line 4)', {'url': MIRROR + 'debian-12.qcow2',
                              'name': 'Debian 12'})]


def test_a_json_manifest_and_a_bare_list():
    found = bulk.manifest(json.dumps([MIRROR + 'a.img',
                                      {'url': MIRROR + 'b.img'}]))

    assert [(str(where), entry['url']) for where, entry in found] == [
        ('Image 1', MIRROR + 'a.img'), ('Image 2', MIRROR + 'b.img')]


def test_url_lines_leave_out_blanks_and_comments():
    found = bulk.url_lines('\n# ours\n %sa.img \n\n%sb.img\n' % (
        MIRROR, MIRROR))

    assert [(str(where), entry['url']) for where, entry in found] == [
        ('Line 3', MIRROR + 'a.img'), ('Line 5', MIRROR + 'b.img')]


def test_unreadable_manifests_say_why():
    for text, said in (
            ('images: [', 'not valid YAML or JSON'),
            ('{"images": ', 'not valid YAML or JSON'),
            ('just text', 'must be a list of images'),
            ('images: []', 'must be a list of images'),
            # A few lines that would stand for a huge document.
            ('a: &a [x, x, x]\nb: &b [*a, *a, *a]\nimages: [*b, *b]',
             'anchors and aliases')):
        try:
            bulk.manifest(text)
        except bulk.Invalid as invalid:
            assert said in ' '.join(invalid.errors), text
        else:
            raise AssertionError('accepted: %r' % text)


class ImportManyTests(dashboard_helpers.TestCase):

    def post(self, **fields):
        data = dict({'visibility': 'private', 'disk_format': ''}, **fields)
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(BULK_URL, data)

    def errors(self, res):
        return res.context['form'].non_field_errors()

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_each_url_becomes_its_own_job_with_the_same_choices(
            self, enqueue):
        res = self.post(urls='%snoble-server-cloudimg-amd64.img\n\n'
                             '%sdebian-12-generic-arm64.qcow2\n' % (
                                 MIRROR, MIRROR),
                        disk_format='raw', visibility='shared',
                        protected='on', metadata='hw_disk_bus=virtio')

        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, INDEX_URL)
        made = ImportJob.objects.order_by('image_name')
        self.assertEqual(
            [('debian-12-generic-arm64.qcow2', 'raw', 'shared', True,
              {'hw_disk_bus': 'virtio', 'os_distro': 'debian',
               'os_version': '12'}, 'aarch64'),
             ('noble-server-cloudimg-amd64.img', 'raw', 'shared', True,
              {'hw_disk_bus': 'virtio', 'os_distro': 'ubuntu',
               'os_version': '24.04'}, 'x86_64')],
            [(job.image_name, job.disk_format, job.visibility,
              job.protected, job.properties, job.architecture)
             for job in made])
        self.assertEqual(2, enqueue.call_count)
        self.assertTrue(all(job.find_checksum for job in made))

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_a_manifest_sets_each_image_and_overrides_the_choices(
            self, enqueue):
        res = self.post(metadata='hw_disk_bus=virtio', manifest=(
            'images:\n'
            '  - url: %sfedora.qcow2\n'
            '    name: Fedora 41\n'
            '    disk_format: qcow2\n'
            '    min_ram: 1024\n'
            '    checksum: sha256:%s\n'
            '    properties: {hw_disk_bus: scsi, hw_scsi_model: '
            'virtio-scsi}\n'
            '  - url: %scirros.img\n'
            '    no_checksum: true\n' % (MIRROR, 'ab' * 32, MIRROR)))

        self.assertNoFormErrors(res)
        fedora = ImportJob.objects.get(image_name='Fedora 41')
        cirros = ImportJob.objects.get(image_name='cirros.img')
        self.assertEqual(
            ('qcow2', 1024, 'sha256:' + 'ab' * 32,
             {'hw_disk_bus': 'scsi', 'hw_scsi_model': 'virtio-scsi',
              'os_distro': 'fedora'}),
            (fedora.disk_format, fedora.min_ram, fedora.expected_checksum,
             fedora.properties))
        self.assertEqual((False, {'hw_disk_bus': 'virtio',
                                  'os_distro': 'cirros'}),
                         (cirros.find_checksum, cirros.properties))

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_every_invalid_line_is_said_and_nothing_is_queued(
            self, enqueue):
        res = self.post(manifest=(
            'images:\n'
            '  - %sgood.img\n'
            '  - url: ftp://images.example.org/bad.img\n'
            '  - url: %sx.img\n'
            '    disk_format: floppy\n'
            '    colour: blue\n'
            '  - name: no url\n'
            '  - url: %sy.img\n'
            '    properties: {owner: someone-else}\n'
            '  - url: %sz.img\n'
            '    checksum: abc\n' % (MIRROR, MIRROR, MIRROR, MIRROR)))

        errors = [str(error) for error in self.errors(res)]
        self.assertEqual(5, len(errors), errors)
        self.assertTrue(errors[0].startswith('Image 2 (line 3): Enter a '
                                             'full URL'), errors)
        self.assertIn('Image 3 (line 4): unknown field "colour"', errors[1])
        self.assertIn('Image 4 (line 7): no URL', errors[2])
        self.assertIn('Image 5 (line 8): "owner" is set by the Image '
                      'service', errors[3])
        self.assertIn('Image 6 (line 10): ', errors[4])
        self.assertIn('is not a checksum', errors[4])
        self.assertFalse(ImportJob.objects.exists())
        enqueue.assert_not_called()

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_urls_or_a_manifest_not_both_nor_neither(self, enqueue):
        for fields in ({}, {'urls': MIRROR + 'a.img',
                            'manifest': '- %sb.img' % MIRROR}):
            res = self.post(**fields)
            self.assertIn('Give either URLs or a manifest.',
                          self.errors(res))
        self.assertFalse(ImportJob.objects.exists())

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_a_list_over_the_queued_limit_is_refused_whole(self, enqueue):
        importer = dict(django_settings.IMAGE_IMPORTER,
                        MAX_QUEUED_PER_PROJECT=2)
        with self.settings(IMAGE_IMPORTER=importer):
            res = self.post(urls='\n'.join(MIRROR + '%d.img' % n
                                           for n in range(3)))

        self.assertContains(res, 'This list has 3 images; your project has '
                                 '0 waiting to start, and at most 2 may '
                                 'wait.')
        self.assertFalse(ImportJob.objects.exists())

    @mock.patch('image_importer.worker.tasks.enqueue')
    def test_one_that_cannot_be_recorded_records_none(self, enqueue):
        real = jobs.submit
        calls = []

        def second_fails(request, data, credentials=None):
            calls.append(data['source_url'])
            if len(calls) == 2:
                raise RuntimeError('the trust was refused')
            return real(request, data, credentials)

        with mock.patch.object(jobs, 'submit', side_effect=second_fails), \
                mock.patch('image_importer.api.keystone.release') as release:
            with self.assertRaises(RuntimeError):
                self.post(urls='%sa.img\n%sb.img' % (MIRROR, MIRROR))

        self.assertFalse(ImportJob.objects.exists())
        self.assertEqual(1, release.call_count)
        enqueue.assert_not_called()

    def test_the_table_offers_import_many(self):
        res = self.client.get(INDEX_URL)

        self.assertContains(res, BULK_URL)
        self.assertContains(res, 'Import Many')
        for ajax in ({}, {'HTTP_X_REQUESTED_WITH': 'XMLHttpRequest'}):
            res = self.client.get(BULK_URL, **ajax)
            self.assertContains(res, 'Source URLs')
            self.assertContains(res, 'Or a Manifest')
