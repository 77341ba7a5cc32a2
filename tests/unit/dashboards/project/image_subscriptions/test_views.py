"""Project > Compute > Image Subscriptions: follow a source, see how it
goes, check now, pause, resume and delete; another project's is a 404."""

from unittest import mock

from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from image_importer.models import Subscription
from tests.unit.dashboards import helpers as dashboard_helpers
from tests.unit.factories import make_job

INDEX_URL = reverse('horizon:project:image_subscriptions:index')
FOLLOW_URL = reverse('horizon:project:image_subscriptions:follow')
ADMIN_URL = reverse('horizon:admin:image_subscriptions:index')


def make_subscription(project_id, **fields):
    values = dict(project_id=project_id, user_id='u1', name='Ubuntu 24.04',
                  source_url='https://images.example.org/noble/current/'
                             'noble.img',
                  image_name='Ubuntu 24.04 ({date})',
                  glance_endpoint='http://glance.example.org:9292',
                  trust_id='trust-1')
    values.update(fields)
    return Subscription.objects.create(**values)


class SubscriptionViewTests(dashboard_helpers.TestCase):

    FORM = {'name': 'Debian 12', 'kind': 'folder',
            'source_url': 'https://images.example.org/debian/',
            'pattern': 'debian-12-generic-amd64-*.qcow2',
            'image_name': '{name} ({date})', 'disk_format': 'raw',
            'visibility': 'private', 'interval': 86400, 'keep': 2,
            'retire': 'hide', 'metadata': 'os_distro=debian'}

    @mock.patch('image_importer.worker.tasks.check_now')
    @mock.patch('image_importer.api.keystone.create_trust',
                return_value=('trust-9', None))
    @mock.patch('image_importer.api.keystone.enabled', return_value=True)
    def test_follow_records_the_choices_and_looks_now(
            self, enabled, create_trust, check_now):
        res = self.client.post(FOLLOW_URL, self.FORM)

        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, INDEX_URL)
        sub = Subscription.objects.get()
        self.assertEqual(
            (self.tenant.id, 'folder', 'debian-12-generic-amd64-*.qcow2',
             'raw', 2, 'hide', {'os_distro': 'debian'}, 'trust-9'),
            (sub.project_id, sub.kind, sub.pattern, sub.disk_format,
             sub.keep, sub.retire, sub.properties, sub.trust_id))
        create_trust.assert_called_once_with(mock.ANY, 'private',
                                             lasting=True)
        check_now.assert_called_once_with(sub.pk)

    @mock.patch('image_importer.api.keystone.enabled', return_value=False)
    def test_without_a_service_user_following_is_refused_with_why(
            self, enabled):
        res = self.client.post(FOLLOW_URL, self.FORM)

        self.assertContains(res, 'ask the operator to set')
        self.assertFalse(Subscription.objects.exists())

    def test_the_form_refuses_what_it_cannot_follow(self):
        importer = dict(django_settings.IMAGE_IMPORTER,
                        SUBSCRIPTION_MIN_INTERVAL=7 * 86400)
        for changes, field, said in (
                ({'pattern': ''}, 'pattern', 'Give the file names'),
                ({'kind': 'file'}, 'pattern', 'needs no pattern'),
                ({'source_url': 'ftp://x/y'}, 'source_url', 'full URL'),
                ({'metadata': 'owner=them'}, 'metadata', 'cannot be a '
                                                         'custom'),
                ({'interval': 86400}, 'interval', 'Select a valid')):
            with self.settings(IMAGE_IMPORTER=importer):
                res = self.client.post(FOLLOW_URL,
                                       dict(self.FORM, **changes))
            self.assertIn(said, str(res.context['form'].errors[field]),
                          changes)
        self.assertFalse(Subscription.objects.exists())

    def test_the_table_says_how_each_went_and_what_it_made(self):
        sub = make_subscription(
            self.tenant.id, last_checked_at=timezone.now(),
            last_result='stopped', result_params={'failures': 3},
            state=Subscription.STOPPED, error_code='http_status',
            error_params={'status': 404, 'reason': 'Not Found'})
        make_job(self.tenant.id, subscription=sub, state='active',
                 image_id='img-1', image_name='Ubuntu 24.04 (2026-12-01)',
                 finished_at=timezone.now())
        make_subscription('another-project', name='theirs')
        make_subscription(self.tenant.id, name='Rocky 9',
                          last_checked_at=timezone.now(),
                          last_result='imported',
                          result_params={'image': 'Rocky 9 (2026-12-07)',
                                         'kept': ['img-7']})

        res = self.client.get(INDEX_URL)

        self.assertContains(res, 'Ubuntu 24.04 (2026-12-01)')
        self.assertContains(res, 'Stopped after 3 failures in a row: The '
                                 'server answered 404 Not Found.')
        self.assertContains(res, 'Imported Rocky 9 (2026-12-07). Kept, as '
                                 'the Image service would not delete them: '
                                 'img-7.')
        self.assertContains(res, 'Stopped')
        self.assertNotContains(res, 'theirs')

    @mock.patch('image_importer.worker.tasks.check_now')
    def test_check_now_pause_resume_and_delete(self, check_now):
        sub = make_subscription(self.tenant.id, state=Subscription.STOPPED,
                                failures=3)

        def act(action):
            return self.client.post(INDEX_URL, {
                'action': 'image_subscriptions__%s__%s' % (action, sub.pk)})

        act('check_now')
        sub.refresh_from_db()
        self.assertEqual((Subscription.ACTIVE, 0), (sub.state,
                                                    sub.failures))
        check_now.assert_called_once_with(sub.pk)
        act('pause')
        sub.refresh_from_db()
        self.assertEqual(Subscription.PAUSED, sub.state)
        act('resume')
        sub.refresh_from_db()
        self.assertEqual(Subscription.ACTIVE, sub.state)
        with mock.patch('image_importer.api.keystone.release') as release:
            act('delete')
        release.assert_called_once()
        self.assertFalse(Subscription.objects.exists())

    def test_edit_shows_the_choices_and_saves_changes(self):
        sub = make_subscription(self.tenant.id, kind='folder',
                                source_url='https://images.example.org/d/',
                                pattern='debian-12-*.qcow2', validator='"a"',
                                seen='debian-12-1.qcow2', keep=2,
                                properties={'os_distro': 'debian'})
        url = reverse('horizon:project:image_subscriptions:edit',
                      args=[sub.pk])

        res = self.client.get(url)
        form = res.context['form']
        self.assertEqual(('debian-12-*.qcow2', 2, 'os_distro=debian'),
                         (form.initial['pattern'], form.initial['keep'],
                          form.initial['metadata']))
        res = self.client.post(url, dict(
            SubscriptionViewTests.FORM, source_url=sub.source_url,
            pattern='debian-13-*.qcow2', keep=5))

        self.assertNoFormErrors(res)
        sub.refresh_from_db()
        self.assertEqual(('debian-13-*.qcow2', 5, '', '', 'trust-1'),
                         (sub.pattern, sub.keep, sub.validator, sub.seen,
                          sub.trust_id))

    def test_another_projects_subscription_is_404(self):
        theirs = make_subscription('another-project')

        for action in ('check_now', 'pause', 'delete'):
            self.client.post(INDEX_URL, {
                'action': 'image_subscriptions__%s__%s' % (action,
                                                           theirs.pk)})

        theirs.refresh_from_db()
        self.assertEqual(Subscription.ACTIVE, theirs.state)
        res = self.client.get(reverse(
            'horizon:project:image_subscriptions:edit', args=[theirs.pk]))
        self.assertEqual(404, res.status_code)


class AdminSubscriptionViewTests(dashboard_helpers.AdminTestCase):

    def test_admin_sees_every_projects_subscriptions(self):
        make_subscription('p-1', name='ours', project_name='alpha')
        make_subscription('p-2', name='theirs', project_name='beta')

        res = self.client.get(ADMIN_URL)

        for text in ('ours', 'theirs', 'alpha', 'beta'):
            self.assertContains(res, text)
