from django.utils.translation import gettext_lazy as _

from image_importer.dashboards.admin.image_subscriptions import tables
from image_importer.dashboards.project.image_subscriptions import views


class IndexView(views.IndexView):
    table_class = tables.AdminSubscriptionsTable
    page_title = _('Image Subscriptions')
