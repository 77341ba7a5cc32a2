import datetime
import uuid

from django.core.exceptions import ValidationError
from django.db.models import Q
from django import http
from django.template.defaultfilters import filesizeformat
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.views import generic

from horizon import forms
from horizon import tables
from horizon.utils import functions as utils_functions
from horizon import views
from horizon import workflows

from image_importer.api import glance as api_glance
from image_importer.dashboards.project.image_imports import checks
from image_importer.dashboards.project.image_imports import forms as \
    import_forms
from image_importer.dashboards.project.image_imports import origin as \
    import_origin
from image_importer.dashboards.project.image_imports import tables as \
    import_tables
from image_importer.dashboards.project.image_imports import workflows as \
    import_workflows
from image_importer import failures
from image_importer import jobs
from image_importer.models import ImportJob


def _job_id(value):
    """A job id from a request, or None when it is not one (a marker
    made up or cut short gives the first page, not an error)."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class IndexView(tables.DataTableView):
    """Newest first, a page at a time (keyset pagination on created_at,
    so it holds with thousands of jobs), filtered by name or status."""

    table_class = import_tables.ImportJobsTable
    page_title = _('Image Imports')
    _more = _prev = False

    def has_more_data(self, table):
        return self._more

    def has_prev_data(self, table):
        return self._prev

    def _filtered(self, queryset):
        info = self.get_server_filter_info(self.request) or {}
        value = (info.get('value') or '').strip()
        if not value:
            return queryset
        if info.get('field') == 'state':
            states = [code for code, label in ImportJob.STATE_CHOICES
                      if value.lower() in (code, str(label).lower())]
            return queryset.filter(state__in=states)
        return queryset.filter(image_name__icontains=value)

    def get_data(self):
        meta = self.table_class._meta
        size = utils_functions.get_page_size(self.request)
        jobs_qs = self._filtered(self.table_class.scope(self.request))
        marker = _job_id(self.request.GET.get(meta.pagination_param))
        prev_marker = _job_id(
            self.request.GET.get(meta.prev_pagination_param))
        anchor = jobs_qs.filter(pk=marker or prev_marker).first() if (
            marker or prev_marker) else None
        if anchor and prev_marker:
            newer = (Q(created_at__gt=anchor.created_at) |
                     Q(created_at=anchor.created_at, pk__gt=anchor.pk))
            page = list(jobs_qs.filter(newer).order_by(
                'created_at', 'pk')[:size + 1])
            self._prev, self._more = len(page) > size, True
            jobs.seen(self.request, page[:size])
            return list(reversed(page[:size]))
        if anchor:
            jobs_qs = jobs_qs.filter(
                Q(created_at__lt=anchor.created_at) |
                Q(created_at=anchor.created_at, pk__lt=anchor.pk))
        page = list(jobs_qs.order_by('-created_at', '-pk')[:size + 1])
        self._more, self._prev = len(page) > size, anchor is not None
        jobs.seen(self.request, page[:size])
        return page[:size]


class CheckURLView(generic.View):
    """The Source step's "Check URL": what the start of the file says of
    it (``checks``: a ranged GET of its first MiBs under the worker's URL
    rules, short timeouts) and suggestions from its name and size. A POST
    with the form's CSRF token: the URL may carry a password, which must
    not land in a query string (and so in web servers' access logs)."""

    http_method_names = ['post']

    def post(self, request):
        try:
            url = import_workflows.check_url(request.POST.get('url', ''))
        except ValidationError as exc:
            return http.JsonResponse({'error': ' '.join(exc.messages)},
                                     status=400)
        if not checks.allowed(request.user.id):
            return http.JsonResponse({'error': str(_(
                'Too many checks in a short time: wait a minute, then '
                'check again.'))}, status=429)
        checked = checks.check(url, published=True)
        if checked.unchecked:
            return http.JsonResponse({'error': '%s %s' % (
                checked.unchecked, _('Check the URL, or submit it: the '
                                     'import tries longer.'))}, status=504)
        found = checks.summary(checked) if checked.found else {}
        if checked.failure is not None:
            # What the file is, too, where the server said it.
            return http.JsonResponse(dict(found, error=checked.error),
                                     status=400)
        source = checks.source_checksum(checked, request.POST.get(
            'checksum', ''))
        found['same_images'] = import_tables.image_links(
            api_glance.images_from_source(request, source)) if source else []
        return http.JsonResponse(found)


class NoticesView(generic.View):
    """Horizon's messages for the user's imports that ended since they
    last looked, each once (asked by every page, image_imports.js)."""

    def post(self, request):
        return http.JsonResponse({'notices': [
            {'level': level, 'message': str(text)}
            for level, text in jobs.notices(request)]})


class CreateView(workflows.WorkflowView):
    workflow_class = import_workflows.ImportImage
    page_title = _('Import Image')

    def get_initial(self):
        retry_of = self.request.GET.get('retry_of')
        if retry_of:
            # Edit and retry: the form as it was (404 for a job of
            # another project).
            return jobs.form_of(jobs.get_job(self.request, retry_of))
        return {name: self.request.GET[name]
                for name in ('source_url', 'name', 'disk_format')
                if self.request.GET.get(name)}


class ImportManyView(forms.ModalFormView):
    form_class = import_forms.ImportManyForm
    form_id = 'import_many_form'
    modal_id = 'import_many_modal'
    page_title = _('Import Many')
    submit_label = _('Import All')
    submit_url = reverse_lazy('horizon:project:image_imports:bulk')
    success_url = reverse_lazy('horizon:project:image_imports:index')
    template_name = 'project/image_imports/bulk.html'


# How the image went to the Image service (engine.pipeline.Route), as the
# job page's timeline says it.
ROUTES = {
    'AS_DOWNLOADED': _('sent to the Image service as it was downloaded'),
    'RAW_AS_IT_ARRIVES': _('made raw as it was downloaded, and sent'),
    'CONVERTED_INTO_UPLOAD': _('made raw by QEMU straight into the upload'),
    'CONVERTED_TO_FILE': _('converted by qemu-img, then sent'),
    'FILE': _('sent from the downloaded file'),
}


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
            # More than one: the first fell through to the next.
            'routes': [ROUTES.get(name, name)
                       for name in entry.get('routes', ())],
        })
    return rows


def origin_of(job):
    """Where the job's checksum came from and who vouches for it, for
    its page; None for a job that recorded none (not reached, or older
    than provenance records)."""
    found = job.provenance
    if not found:
        return None
    return {
        'source': import_origin.checksum_source(found),
        'url': found.get('checksum_url', ''),
        'expected': ('%s:%s' % (found['algorithm'], found['expected'])
                     if found.get('algorithm') else ''),
        'verdict': import_origin.verdict(found),
        'signed': found.get('verification') == 'signed',
    }


class DetailView(views.HorizonTemplateView):
    """A job's page: what it found and did, live while it runs (its
    script reloads the page's parts every poll interval), with the row's
    actions."""

    template_name = 'project/image_imports/detail.html'
    page_title = '{{ job.image_name }}'
    scope = staticmethod(jobs.project_jobs)
    table_class = import_tables.ImportJobsTable
    index_url = reverse_lazy('horizon:project:image_imports:index')

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = jobs.get_job(self.request, kwargs['job_id'], self.scope)
        jobs.seen(self.request, [job])
        image_url = import_tables.image_url(job)
        # An image deleted since it was imported: say so, with no link.
        image_gone = bool(image_url) and api_glance.image_exists(
            self.request, job.image_id) is False
        job.image_gone = image_gone     # for the Go to Image action
        context.update(
            job=job, timeline=timeline(job),
            image_url=None if image_gone else image_url,
            image_gone=image_gone,
            error=(failures.describe(job.error_code, job.error_params)
                   if job.state == job.FAILED else ''),
            mismatch=(job.error_params
                      if job.error_code == 'checksum_mismatch' else None),
            index_url=self.index_url,
            show_owner=self.scope is not jobs.project_jobs,
            progress=import_tables.progress(job),
            origin=origin_of(job),
            # An image that already held the same bytes: the user may
            # keep one of the two.
            identical=(import_tables.image_links(api_glance.identical_images(
                self.request, job.image_id))
                if image_url and not image_gone else []),
            # The row's actions; they post to the table's page.
            actions=self.table_class(self.request).render_row_actions(job),
            url=self.index_url)
        return context
