import json
import urllib.parse

from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.utils.translation import pgettext_lazy

from horizon import exceptions
from horizon import tables
from horizon.utils import filters
from horizon.utils import settings as horizon_settings
from openstack_dashboard.api import base as api_base
from openstack_dashboard.utils import settings as setting_utils

from image_importer.dashboards.project.image_imports import origin as \
    import_origin
from image_importer import failures
from image_importer import jobs
from image_importer import limits
from image_importer.models import ImportJob

STATUS_CHOICES = tuple(
    (state, True if state == ImportJob.ACTIVE else
     False if state in ImportJob.END_STATES else None)
    for state, _label in ImportJob.STATE_CHOICES)


def policy_allows(request, rules, target):
    """``POLICY_CHECK_FUNCTION``'s answer for ``rules`` on ``target``,
    asked once a request: a table asks the same of every row."""
    check = horizon_settings.import_setting('POLICY_CHECK_FUNCTION')
    if not (check and rules):
        return True
    key = json.dumps([rules, target], sort_keys=True, default=str)
    answers = request.__dict__.setdefault('_image_imports_policy', {})
    if key not in answers:
        answers[key] = check(rules, request, target)
    return answers[key]


class RowAction:
    """For a row, the job's state rules out most actions: ask ``allowed``
    first (Horizon asks the policy first) and the policy once a request.
    Policy checks were a third of the table's time, 20 rows by six
    actions (tools/bench_web.py, profiled with py-spy)."""

    def _allowed(self, request, datum):
        if datum is None:
            return super()._allowed(request, datum)
        return self.allowed(request, datum) and policy_allows(
            request, self.policy_rules,
            self.get_policy_target(request, datum))


class ImportImage(tables.LinkAction):
    name = 'create'
    verbose_name = _('Import Image')
    url = 'horizon:project:image_imports:create'
    classes = ('ajax-modal',)
    icon = 'cloud-download'
    policy_rules = (('image', 'add_image'),)


class ImportMany(ImportImage):
    name = 'bulk'
    verbose_name = _('Import Many')
    url = 'horizon:project:image_imports:bulk'
    icon = 'list'


class CancelImport(RowAction, tables.BatchAction):
    name = 'cancel'
    action_type = 'danger'
    help_text = _('The import stops at once; nothing it made is kept.')
    policy_rules = (('image', 'add_image'),)

    @staticmethod
    def action_present(count):
        # Its confirmation's other choice reads "Keep importing"
        # (static/image_importer/js/image_imports.js).
        return ngettext('Stop Import', 'Stop Imports', count)

    @staticmethod
    def action_past(count):
        return ngettext('Stopped Import', 'Stopped Imports', count)

    def allowed(self, request, job=None):
        return job is None or not job.is_finished

    def action(self, request, obj_id):
        jobs.cancel(jobs.get_job(request, obj_id, self.table.scope))


class RetryImport(RowAction, tables.BatchAction):
    name = 'retry'
    icon = 'repeat'
    policy_rules = (('image', 'add_image'),)

    @staticmethod
    def action_present(count):
        return ngettext('Retry Import', 'Retry Imports', count)

    @staticmethod
    def action_past(count):
        return ngettext('Queued Import Again', 'Queued Imports Again',
                        count)

    def allowed(self, request, job=None):
        return job is not None and job.state in (ImportJob.FAILED,
                                                 ImportJob.CANCELLED)

    def action(self, request, obj_id):
        job = jobs.get_job(request, obj_id, self.table.scope)
        try:
            jobs.retry(request, job)
        except (limits.LimitReached, jobs.NotYourPassword) as exc:
            # Say why; the error goes on, so the retry counts as failed.
            exceptions.handle(request, str(exc), details='', escalate=True)


class EditAndRetry(RowAction, tables.LinkAction):
    """The Import form, filled as this job's was, to change and submit:
    the new import replaces this record."""

    name = 'edit_retry'
    verbose_name = _('Edit and Retry')
    url = 'horizon:project:image_imports:create'
    classes = ('ajax-modal',)
    icon = 'pencil'
    policy_rules = (('image', 'add_image'),)

    def allowed(self, request, job=None):
        return job is not None and job.state in (ImportJob.FAILED,
                                                 ImportJob.CANCELLED)

    def get_link_url(self, job):
        return '%s?%s' % (reverse(self.url),
                          urllib.parse.urlencode({'retry_of': job.pk}))


class DeleteJob(RowAction, tables.DeleteAction):
    help_text = _('Only the record of the import is deleted; an image it '
                  'made stays in the Image service.')
    policy_rules = (('image', 'add_image'),)

    @staticmethod
    def action_present(count):
        return ngettext('Delete Record', 'Delete Records', count)

    @staticmethod
    def action_past(count):
        return ngettext('Deleted Record', 'Deleted Records', count)

    def allowed(self, request, job=None):
        return job is None or job.is_finished

    def delete(self, request, obj_id):
        jobs.delete(request, jobs.get_job(request, obj_id, self.table.scope))


class DeleteJobAndImage(DeleteJob):
    name = 'delete_with_image'
    help_text = _('The import record and the image it made are deleted. '
                  'Deleted images are not recoverable.')
    policy_rules = (('image', 'delete_image'),)

    @staticmethod
    def action_present(count):
        return ngettext('Delete Import and Image',
                        'Delete Imports and Images', count)

    @staticmethod
    def action_past(count):
        return ngettext('Deleted Import and Image',
                        'Deleted Imports and Images', count)

    def allowed(self, request, job=None):
        if job is None:
            return False
        if job.state == ImportJob.ACTIVE:
            return not job.protected
        # An unfinished image a failed job could not delete.
        return job.is_finished and bool(job.left_image)

    def delete(self, request, obj_id):
        jobs.delete(request, jobs.get_job(request, obj_id, self.table.scope),
                    with_image=True)


class GoToImage(RowAction, tables.LinkAction):
    name = 'image'
    verbose_name = _('Go to Image')

    def allowed(self, request, job=None):
        return (job is not None and image_url(job) is not None and
                not getattr(job, 'image_gone', False))

    def get_link_url(self, job):
        return image_url(job)


class LaunchInstance(RowAction, tables.LinkAction):
    """Opens Horizon's Launch Instance wizard on the imported image (as the
    Images panel's Launch does)."""

    name = 'launch'
    verbose_name = _('Launch Instance')
    url = 'horizon:project:image_imports:index'
    classes = ('btn-launch',)
    icon = 'cloud-upload'
    ajax = False
    policy_rules = (('compute', 'os_compute_api:servers:create'),)

    def __init__(self, attrs=None, **kwargs):
        kwargs['preempt'] = True
        super().__init__(attrs, **kwargs)

    def allowed(self, request, job=None):
        return (job is not None and job.state == ImportJob.ACTIVE and
                bool(job.image_id) and
                api_base.is_service_enabled(request, 'compute'))

    def get_link_url(self, job):
        self.attrs.update({
            'ng-controller': 'LaunchInstanceModalController as modal',
            'ng-click': "modal.openLaunchInstanceWizard({successUrl: '%s', "
                        "imageId: '%s'})" % (reverse(self.url), job.image_id),
        })
        return 'javascript:void(0);'


class ImportFilterAction(tables.FilterAction):
    filter_type = 'server'
    filter_choices = (('name', _('Name ='), True),
                      ('state', _('Status ='), True))


class UpdateRow(tables.Row):
    ajax = True

    def get_data(self, request, job_id):
        # A row update draws no project picker: spare the Keystone
        # project list Horizon's context processor would fetch for it on
        # every poll (most of the request's time, see tools/bench_web.py).
        request.user.authorized_tenants = []
        job = jobs.get_job(request, job_id, self.table.scope)
        jobs.seen(request, [job])
        return job


def image_url(job):
    """The Images panel's page of a finished job's image."""
    if job.state != ImportJob.ACTIVE or not job.image_id:
        return None
    return image_page(job.image_id)


def image_page(image_id):
    """The Images panel's page of an image."""
    if setting_utils.get_dict_config('ANGULAR_FEATURES', 'images_panel'):
        return '/ngdetails/OS::Glance::Image/%s' % image_id
    return reverse('horizon:project:images:images:detail', args=[image_id])


def image_links(images):
    """Images as Check URL and the job page offer them (JSON-ready)."""
    return [{'id': image.id, 'name': image.name or image.id,
             'disk_format': image.disk_format or '',
             'visibility': getattr(image, 'visibility', '') or '',
             'url': image_page(image.id)} for image in images]


def shortened(text, length):
    """``text`` cut to ``length`` characters, whole on hover (the job
    page shows it whole too): the table fits a 1280 px screen."""
    text = str(text)
    if len(text) <= length:
        return text
    return format_html('<span title="{}">{}</span>', text,
                       Truncator(text).chars(length))


def source_label(job):
    return shortened('%s (%s)' % (jobs.name_from_url(job.source_url) or '/',
                                  jobs.source_host(job.source_url)), 32)


def image_label(job):
    """The Glance image's name, linked, once the job made it (plain
    text: Horizon escapes a linked cell)."""
    if not image_url(job):
        return '-'
    return Truncator(job.image_name).chars(24)


def format_label(job):
    """``qcow2``, ``qcow2 \u2192 raw``, with how it came: ``xz: qcow2``."""
    wanted = job.disk_format or pgettext_lazy('Disk format', 'Automatic')
    label = str(wanted)
    if job.source_format and job.source_format != job.disk_format:
        label = '%s \u2192 %s' % (job.source_format, wanted)
    packing = ' '.join(p for p in (job.compression,
                                   job.archive_member and 'tar') if p)
    return '%s: %s' % (packing, label) if packing else label


def size_label(job):
    size = job.image_size or (job.bytes_total if job.state ==
                              ImportJob.DOWNLOADING else None)
    return filesizeformat(size) if size else '-'


def steps(job):
    """The running steps a job goes through: a conversion is one of its
    own unless the image is kept in the format it has."""
    converts = job.disk_format and job.source_format != job.disk_format
    if converts or job.state == ImportJob.CONVERTING:
        return (ImportJob.DOWNLOADING, ImportJob.CONVERTING,
                ImportJob.UPLOADING)
    return ImportJob.DOWNLOADING, ImportJob.UPLOADING


def progress(job):
    """For a running job: its step ("2 of 3: converting"), the whole
    import's progress as a bar, and the step's bytes, speed and time
    left. The reason for a failed one."""
    if job.state == ImportJob.FAILED:
        # A checksum or a URL in it breaks anywhere rather than widen
        # the table.
        return format_html(
            '<div style="max-width: 22em; overflow-wrap: anywhere; '
            'word-break: break-word">{}</div>',
            shortened(failures.describe(job.error_code, job.error_params),
                      90))
    if job.state == ImportJob.ACTIVE:
        # How far the image is vouched for (the job page says it whole).
        return format_html(
            '<div style="max-width: 22em; overflow-wrap: anywhere">{}</div>',
            shortened(import_origin.row_text(job) or '-', 70))
    if not job.is_running:
        return '-'
    done, total = job.bytes_done, job.bytes_total
    parts = [filesizeformat(done)]
    fraction = 0
    if total:
        fraction = min(1, done / total)
        parts = ['%d%%' % int(fraction * 100),
                 _('%(done)s of %(total)s') % {
                     'done': filesizeformat(done),
                     'total': filesizeformat(total)}]
    elapsed = (timezone.now() - job.phase_started_at).total_seconds() \
        if job.phase_started_at else 0
    if elapsed > 0 and done:
        speed = done / elapsed
        parts.append(_('%s/s') % filesizeformat(speed))
        if total and total > done:
            parts.append(_('%d s left') % int((total - done) / speed))
    text = ' \u00b7 '.join(str(p) for p in parts)
    order = steps(job)
    step = order.index(job.state)
    overall = int((step + fraction) * 100 / len(order))
    return format_html(
        '<small><strong>{0}</strong> \u00b7 {1}</small>'
        '<div class="progress" style="margin-bottom:2px">'
        '<div class="progress-bar" role="progressbar" aria-valuenow="{2}" '
        'aria-valuemin="0" aria-valuemax="100" style="width: {2}%"></div>'
        '</div><small>{3}</small>',
        _('%(step)d of %(steps)d: %(name)s') % {
            'step': step + 1, 'steps': len(order),
            'name': str(dict(ImportJob.STATE_CHOICES)[job.state]).lower()},
        _('%d%% overall') % overall, overall, text)


class ImportJobsTable(tables.DataTable):
    # A URL name (reversed with the row's id) rather than a function:
    # Horizon inspects a function's signature for every cell.
    name = tables.Column('image_name', verbose_name=_('Name'),
                         link='horizon:project:image_imports:detail')
    source = tables.Column(source_label, verbose_name=_('Source'))
    state = tables.Column('state', verbose_name=_('Status'), status=True,
                          status_choices=STATUS_CHOICES,
                          display_choices=ImportJob.STATE_CHOICES)
    progress = tables.Column(progress, verbose_name=_('Progress'),
                             attrs={'style': 'min-width: 12em'})
    disk_format = tables.Column(format_label, verbose_name=_('Format'))
    size = tables.Column(size_label, verbose_name=_('Size'))
    image = tables.Column(image_label, verbose_name=_('Image'),
                          link=image_url)
    created = tables.Column('created_at', verbose_name=_('Created'),
                            filters=(filters.timesince_sortable,),
                            attrs={'data-type': 'timesince'})

    # Which jobs the table and its actions may see.
    scope = staticmethod(jobs.project_jobs)

    def get_object_id(self, job):
        return str(job.pk)

    def get_object_display(self, job):
        return job.image_name

    class Meta:
        name = 'image_imports'
        verbose_name = _('Image Imports')
        status_columns = ['state']
        row_class = UpdateRow
        table_actions = (ImportFilterAction, ImportImage, ImportMany,
                         CancelImport, DeleteJob)
        row_actions = (GoToImage, LaunchInstance, EditAndRetry, RetryImport,
                       CancelImport, DeleteJob, DeleteJobAndImage)
