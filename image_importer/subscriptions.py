"""What the dashboards do with subscriptions: follow a source, look now,
pause, resume, stop following. The looks themselves, the imports and the
retirement run in the worker (``worker.subscriptions``)."""

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from openstack_dashboard.api import base as api_base

from image_importer.api import keystone
from image_importer.engine.errors import ImportFailure
from image_importer.models import Subscription
from image_importer.worker import tasks

# The form's fields kept as they are.
FIELDS = ('name', 'kind', 'source_url', 'pattern', 'image_name',
          'disk_format', 'visibility', 'protected', 'min_disk', 'min_ram',
          'architecture', 'interval', 'keep', 'retire')


def scope(request):
    return Subscription.objects.filter(project_id=request.user.project_id)


def all_subscriptions(request):
    """Every project's, for the admin panel (its policy is the check)."""
    return Subscription.objects.all()


def get(request, sub_id, within=scope):
    """A subscription the request may see (404 otherwise)."""
    try:
        return within(request).get(pk=sub_id)
    except (Subscription.DoesNotExist, ValueError, TypeError):
        raise Http404(_('No such subscription.'))


def follow(request, data):
    """Record a subscription of the request's user and project, with a
    lasting trust (deleted with it), and look at it now.
    ``ImportFailure`` if the cloud cannot act for the user later."""
    if not keystone.enabled():
        raise ImportFailure('subscriptions_need_service_auth')
    trust_id, _expires = keystone.create_trust(
        request, data.get('visibility') or 'private', lasting=True)
    sub = Subscription.objects.create(
        project_id=request.user.project_id,
        project_name=getattr(request.user, 'project_name', '') or '',
        user_id=request.user.id, user_name=request.user.username,
        glance_endpoint=api_base.url_for(request, 'image'),
        trust_id=trust_id, properties=dict(data.get('metadata') or {}),
        next_check_at=timezone.now(),
        **{key: data[key] for key in FIELDS if data.get(key) is not None})
    tasks.check_now(sub.pk)
    return sub


def form_of(sub):
    """The Follow a Source form as it was, for Edit."""
    initial = {key: getattr(sub, key) for key in FIELDS}
    initial['metadata'] = '\n'.join('%s=%s' % item for item in sorted(
        sub.properties.items()))
    return initial


def edit(request, sub, data):
    """Change what is followed and how; a new source, or a new pattern,
    is looked at afresh. A trust for another visibility is made anew
    (public images need more roles), the old one deleted."""
    fields = {key: data[key] for key in FIELDS if data.get(key) is not None}
    fields['properties'] = dict(data.get('metadata') or {})
    if (fields.get('source_url'), fields.get('kind'),
            fields.get('pattern', '')) != (sub.source_url, sub.kind,
                                           sub.pattern):
        fields.update(validator='', seen='', next_check_at=timezone.now())
    if fields.get('visibility', sub.visibility) != sub.visibility:
        trust_id, _expires = keystone.create_trust(
            request, fields['visibility'], lasting=True)
        keystone.release(sub, request)
        fields['trust_id'] = trust_id
    Subscription.objects.filter(pk=sub.pk).update(**fields)


def check_now(request, sub):
    """Look at it now (a stopped one is resumed)."""
    Subscription.objects.filter(pk=sub.pk).update(
        state=Subscription.ACTIVE, next_check_at=timezone.now(),
        failures=0 if sub.state == Subscription.STOPPED else sub.failures)
    tasks.check_now(sub.pk)


def pause(request, sub):
    Subscription.objects.filter(pk=sub.pk).update(state=Subscription.PAUSED)


def resume(request, sub):
    """Follow it again from the next look; failures are forgotten."""
    Subscription.objects.filter(pk=sub.pk).update(
        state=Subscription.ACTIVE, failures=0, error_code='',
        error_params={}, next_check_at=timezone.now())


def delete(request, sub):
    """Stop following: the trust goes, the images stay."""
    keystone.release(sub, request)
    sub.delete()
