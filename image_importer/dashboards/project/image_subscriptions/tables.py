"""The subscriptions of a project: what each follows, how its last look
went, when the next is, the images it made, and its actions."""

from django.template.defaultfilters import timeuntil
from django.utils.html import format_html
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from horizon import tables

from image_importer.dashboards.project.image_imports import tables as \
    import_tables
from image_importer import failures
from image_importer.models import ImportJob
from image_importer.models import Subscription
from image_importer import subscriptions
from image_importer.worker import subscriptions as following

SHOWN_IMAGES = 3
RESULTS = {
    following.RUNNING: _('The import of the last build is still running.'),
    following.UNCHANGED: _('Unchanged.'),
    following.STARTED: _('New build %(file)s: import started.'),
    following.IMPORTED: _('Imported %(image)s.'),
    following.FAILED: _('Failed; the next look waits longer.'),
    following.STOPPED: _('Stopped after %(failures)s failures in a row.'),
}


def source_label(sub):
    if sub.pattern:
        return format_html('{}<br><small>{}</small>', sub.source_url,
                           sub.pattern)
    return sub.source_url


def last_look(sub):
    """When it last looked, what it found, and why it failed."""
    if sub.last_checked_at is None:
        return _('Not yet')
    said = _result(sub)
    if sub.error_code:
        why = failures.describe(sub.error_code, sub.error_params)
        said = '%s: %s' % (said.rstrip('.'), why)
    when = sub.last_checked_at.strftime('%Y-%m-%d %H:%M')
    return format_html('{}<br><small>{}</small>', when, said)


def _result(sub):
    params = dict(sub.result_params)
    try:
        said = str(RESULTS[sub.last_result] % params)
    except (KeyError, TypeError, ValueError):
        said = sub.last_result
    if params.get('kept'):
        said = '%s %s' % (said, _('Kept, as the Image service would not '
                                  'delete them: %s.') % ', '.join(
                                      params['kept']))
    return said


def next_look(sub):
    if sub.state != Subscription.ACTIVE:
        return '-'
    return _('in %s') % timeuntil(sub.next_check_at)


def images_made(sub):
    """The newest images it made, linked; how many in all."""
    made = list(sub.jobs.filter(state=ImportJob.ACTIVE).exclude(
        image_id='').order_by('-finished_at'))
    if not made:
        return '-'
    links = format_html_join(
        '<br>', '<a href="{}">{}</a>',
        ((import_tables.image_page(job.image_id), job.image_name)
         for job in made[:SHOWN_IMAGES]))
    if len(made) > SHOWN_IMAGES:
        return format_html('{}<br><small>{}</small>', links, _(
            '%d in all') % len(made))
    return links


class FollowSource(tables.LinkAction):
    name = 'follow'
    verbose_name = _('Follow a Source')
    url = 'horizon:project:image_subscriptions:follow'
    classes = ('ajax-modal',)
    icon = 'plus'
    policy_rules = (('image', 'add_image'),)


class EditSubscription(tables.LinkAction):
    name = 'edit'
    verbose_name = _('Edit')
    url = 'horizon:project:image_subscriptions:edit'
    classes = ('ajax-modal',)
    icon = 'pencil'
    policy_rules = (('image', 'add_image'),)


class SubscriptionAction(tables.BatchAction):
    policy_rules = (('image', 'add_image'),)

    def get_object_display(self, sub):
        return sub.name

    def _get(self, request, obj_id):
        return subscriptions.get(request, obj_id, self.table.scope)


class CheckNow(SubscriptionAction):
    name = 'check_now'

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Check Now', 'Check Now', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Checking', 'Checking', count)

    def action(self, request, obj_id):
        subscriptions.check_now(request, self._get(request, obj_id))


class Pause(SubscriptionAction):
    name = 'pause'

    def allowed(self, request, sub=None):
        return sub is None or sub.state == Subscription.ACTIVE

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Pause', 'Pause', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Paused', 'Paused', count)

    def action(self, request, obj_id):
        subscriptions.pause(request, self._get(request, obj_id))


class Resume(SubscriptionAction):
    name = 'resume'

    def allowed(self, request, sub=None):
        return sub is None or sub.state != Subscription.ACTIVE

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Resume', 'Resume', count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Resumed', 'Resumed', count)

    def action(self, request, obj_id):
        subscriptions.resume(request, self._get(request, obj_id))


class Unsubscribe(tables.DeleteAction):
    help_text = _('The images it made stay in the Image service.')
    policy_rules = (('image', 'add_image'),)

    @staticmethod
    def action_present(count):
        return ngettext_lazy('Delete Subscription', 'Delete Subscriptions',
                             count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy('Deleted Subscription', 'Deleted Subscriptions',
                             count)

    def delete(self, request, obj_id):
        subscriptions.delete(request, subscriptions.get(
            request, obj_id, self.table.scope))


class SubscriptionsTable(tables.DataTable):
    name = tables.Column('name', verbose_name=_('Name'))
    source = tables.Column(source_label, verbose_name=_('Source'))
    state = tables.Column('state', verbose_name=_('Status'), status=True,
                          status_choices=((Subscription.ACTIVE, True),
                                          (Subscription.PAUSED, None),
                                          (Subscription.STOPPED, False)),
                          display_choices=Subscription.STATE_CHOICES)
    last = tables.Column(last_look, verbose_name=_('Last Look'))
    next = tables.Column(next_look, verbose_name=_('Next Look'))
    images = tables.Column(images_made, verbose_name=_('Images'))

    scope = staticmethod(subscriptions.scope)

    def get_object_display(self, sub):
        return sub.name

    class Meta:
        name = 'image_subscriptions'
        verbose_name = _('Image Subscriptions')
        status_columns = ['state']
        table_actions = (FollowSource, Unsubscribe)
        row_actions = (CheckNow, EditSubscription, Pause, Resume,
                       Unsubscribe)
