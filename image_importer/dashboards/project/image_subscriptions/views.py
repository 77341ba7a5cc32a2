from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from horizon import forms
from horizon import tables

from image_importer.dashboards.project.image_subscriptions import forms as \
    subscription_forms
from image_importer.dashboards.project.image_subscriptions import tables as \
    subscription_tables


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
