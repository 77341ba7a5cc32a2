from django.urls import reverse
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from horizon import forms
from horizon import tables

from image_importer.dashboards.project.image_subscriptions import forms as \
    subscription_forms
from image_importer.dashboards.project.image_subscriptions import tables as \
    subscription_tables
from image_importer import subscriptions


class IndexView(tables.DataTableView):
    table_class = subscription_tables.SubscriptionsTable
    page_title = _('Image Subscriptions')

    def get_data(self):
        return list(self.table_class.scope(self.request).order_by(
            '-created_at')[:200])


class FollowView(forms.ModalFormView):
    form_class = subscription_forms.FollowForm
    form_id = 'follow_form'
    modal_id = 'follow_modal'
    page_title = _('Follow a Source')
    submit_label = _('Follow')
    submit_url = reverse_lazy('horizon:project:image_subscriptions:follow')
    success_url = reverse_lazy('horizon:project:image_subscriptions:index')
    template_name = 'project/image_subscriptions/follow.html'


class EditView(FollowView):
    page_title = _('Edit Subscription')
    submit_label = _('Save')

    def _sub(self):
        if not hasattr(self, '_found'):
            self._found = subscriptions.get(self.request,
                                            self.kwargs['sub_id'])
        return self._found

    def get_initial(self):
        return dict(subscriptions.form_of(self._sub()),
                    sub_id=str(self._sub().pk))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context['submit_url'] = reverse(
            'horizon:project:image_subscriptions:edit',
            args=[self._sub().pk])
        return context
