from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from horizon import forms
from horizon import tables

from image_importer.dashboards.project.image_imports import forms as \
    import_forms
from image_importer.dashboards.project.image_imports import tables as \
    import_tables
from image_importer import jobs


class IndexView(tables.DataTableView):
    table_class = import_tables.ImportJobsTable
    page_title = _('Image Imports')

    def get_data(self):
        return jobs.project_jobs(self.request)


class CreateView(forms.ModalFormView):
    form_class = import_forms.ImportImageForm
    form_id = 'import_image_form'
    modal_id = 'import_image_modal'
    submit_label = _('Import Image')
    submit_url = reverse_lazy('horizon:project:image_imports:create')
    template_name = 'project/image_imports/create.html'
    success_url = reverse_lazy('horizon:project:image_imports:index')
    page_title = _('Import Image')

    def get_initial(self):
        return {name: self.request.GET[name]
                for name in ('source_url', 'name', 'disk_format')
                if self.request.GET.get(name)}
