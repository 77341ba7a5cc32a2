import datetime

from django.template.defaultfilters import filesizeformat
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from horizon import tables
from horizon import views
from horizon import workflows

from image_importer.dashboards.project.image_imports import tables as \
    import_tables
from image_importer.dashboards.project.image_imports import workflows as \
    import_workflows
from image_importer import failures
from image_importer import jobs


class IndexView(tables.DataTableView):
    table_class = import_tables.ImportJobsTable
    page_title = _('Image Imports')

    def get_data(self):
        return self.table_class.scope(self.request)


class CreateView(workflows.WorkflowView):
    workflow_class = import_workflows.ImportImage
    page_title = _('Import Image')

    def get_initial(self):
        return {name: self.request.GET[name]
                for name in ('source_url', 'name', 'disk_format')
                if self.request.GET.get(name)}


def timeline(job):
    """Each phase with its start, end, duration, bytes and mean speed."""
    rows = []
    for entry in job.phases:
        start = datetime.datetime.fromisoformat(entry['start'])
        end = (datetime.datetime.fromisoformat(entry['end'])
               if 'end' in entry else None)
        seconds = (end - start).total_seconds() if end else None
        done = entry.get('bytes')
        rows.append({
            'phase': dict(job.STATE_CHOICES).get(entry['phase'],
                                                 entry['phase']),
            'start': start, 'end': end,
            'duration': '%.1f s' % seconds if seconds is not None else '',
            'bytes': filesizeformat(done) if done else '',
            'speed': ('%s/s' % filesizeformat(done / seconds)
                      if done and seconds else ''),
        })
    return rows


class DetailView(views.HorizonTemplateView):
    template_name = 'project/image_imports/detail.html'
    page_title = '{{ job.image_name }}'
    scope = staticmethod(jobs.project_jobs)
    index_url = reverse_lazy('horizon:project:image_imports:index')

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = jobs.get_job(self.request, kwargs['job_id'], self.scope)
        context.update(
            job=job, timeline=timeline(job),
            image_url=import_tables.image_url(job),
            error=(failures.describe(job.error_code, job.error_params)
                   if job.state == job.FAILED else ''),
            index_url=self.index_url,
            show_owner=self.scope is not jobs.project_jobs)
        return context
