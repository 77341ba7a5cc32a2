from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from horizon import tables

from image_importer.dashboards.project.image_subscriptions import tables as \
    project_tables
from image_importer import subscriptions


class AdminSubscriptionsTable(project_tables.SubscriptionsTable):
    owner = tables.Column(
        lambda sub: format_html('{}<br><small>{}</small>',
                                sub.project_name or sub.project_id,
                                sub.user_name or sub.user_id),
        verbose_name=_('Project / User'))

    scope = staticmethod(subscriptions.all_subscriptions)

    class Meta:
        name = 'image_subscriptions'
        verbose_name = _('Image Subscriptions')
        columns = ('name', 'owner', 'source', 'state', 'last', 'next',
                   'images')
        status_columns = ['state']
        table_actions = (project_tables.Unsubscribe,)
        row_actions = (project_tables.CheckNow, project_tables.Pause,
                       project_tables.Resume, project_tables.Unsubscribe)
