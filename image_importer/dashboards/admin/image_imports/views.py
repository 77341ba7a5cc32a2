from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from image_importer.dashboards.admin.image_imports import tables
from image_importer.dashboards.project.image_imports import views
from image_importer import jobs


class IndexView(views.IndexView):
    table_class = tables.AdminImportJobsTable
    page_title = _('Image Imports')


class DetailView(views.DetailView):
    scope = staticmethod(jobs.all_jobs)
    table_class = tables.AdminImportJobsTable
    index_url = reverse_lazy('horizon:admin:image_imports:index')
