from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from horizon import tables

from image_importer.dashboards.project.image_imports import tables as \
    project_tables
from image_importer import jobs


class AdminImportJobsTable(project_tables.ImportJobsTable):
    name = tables.Column('image_name', verbose_name=_('Name'),
                         link='horizon:admin:image_imports:detail')
    owner = tables.Column(
        lambda job: format_html('{}<br><small>{}</small>',
                                job.project_name or job.project_id,
                                job.user_name or job.user_id),
        verbose_name=_('Project / User'))

    scope = staticmethod(jobs.all_jobs)

    class Meta:
        name = 'image_imports'
        verbose_name = _('Image Imports')
        columns = ('name', 'owner', 'source', 'state', 'progress',
                   'disk_format', 'size', 'image', 'created')
        status_columns = ['state']
        row_class = project_tables.UpdateRow
        table_actions = (project_tables.ImportFilterAction,
                         project_tables.CancelImport,
                         project_tables.DeleteJob)
        row_actions = (project_tables.GoToImage, project_tables.CancelImport,
                       project_tables.DeleteJob,
                       project_tables.DeleteJobAndImage)
