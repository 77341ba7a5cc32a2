"""Import Many: several images at once, each its own job."""

from django.forms import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from horizon import forms
from horizon import messages

from image_importer.api import glance as api_glance
from image_importer.dashboards.project.image_imports import bulk
from image_importer.dashboards.project.image_imports import workflows
from image_importer.engine.errors import ImportFailure
from image_importer import failures
from image_importer import jobs


class ImportManyForm(forms.SelfHandlingForm):
    urls = forms.CharField(
        label=_('Source URLs'), required=False, max_length=bulk.MAX_TEXT,
        widget=forms.Textarea(attrs={
            'rows': 6, 'placeholder': 'https://cloud-images.example.org/'
                                      'noble-server-cloudimg-amd64.img'}),
        help_text=_('One http:// or https:// URL per line. Each becomes an '
                    'import of its own, named from its file name, with the '
                    'choices below.'))
    manifest = forms.CharField(
        label=_('Or a Manifest'), required=False, max_length=bulk.MAX_TEXT,
        widget=forms.Textarea(attrs={'rows': 6, 'placeholder': (
            'images:\n  - url: https://...\n    name: Debian 12\n'
            '    properties: {hw_disk_bus: virtio}')}),
        help_text=_('Instead of URLs: a YAML or JSON list of images, each '
                    'its url and, if wanted, name, disk_format, checksum, '
                    'properties and the other fields of an import; what an '
                    'image leaves out comes from the choices below.'))
    disk_format = forms.ThemableChoiceField(
        label=_('Format'), required=False,
        help_text=_('Automatic keeps the format found in each file.'))
    visibility = forms.ThemableChoiceField(label=_('Visibility'))
    protected = forms.BooleanField(label=_('Protected'), required=False)
    metadata = forms.CharField(
        label=_('Properties'), required=False,
        widget=forms.Textarea(attrs={'rows': 3,
                                     'placeholder': 'hw_disk_bus=virtio'}),
        help_text=_('One key=value per line, for every image.'))

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        workflows.offer_image_choices(self.fields, request)

    def clean_metadata(self):
        return workflows.metadata_lines(self.cleaned_data['metadata'])

    def clean(self):
        data = super().clean()
        urls, manifest = data.get('urls', ''), data.get('manifest', '')
        if bool(urls.strip()) == bool(manifest.strip()):
            raise ValidationError(_('Give either URLs or a manifest.'))
        if self.errors:
            return data
        common = {key: data.get(key) for key in (
            'disk_format', 'visibility', 'protected')}
        common['metadata'] = data.get('metadata') or {}
        try:
            found = (bulk.url_lines(urls) if urls.strip()
                     else bulk.manifest(manifest))
            data['entries'] = bulk.entries(self.request, found, common)
        except bulk.Invalid as invalid:
            raise ValidationError(invalid.errors)
        return data

    def handle(self, request, data):
        try:
            api_glance.check_quota(request)
            made = jobs.submit_many(request, data['entries'])
        except ImportFailure as exc:
            # A Glance quota, or a queued limit (limits.LimitReached).
            self.api_error(failures.describe(exc.code, exc.params))
            return False
        messages.success(request, ngettext(
            '%d import queued. You can close this page; it goes on in the '
            'background.',
            '%d imports queued. You can close this page; they go on in the '
            'background.', len(made)) % len(made))
        return True
