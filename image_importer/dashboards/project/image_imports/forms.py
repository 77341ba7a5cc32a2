from django.conf import settings
from django.core import validators
from django.forms import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from horizon import exceptions
from horizon import forms
from horizon import messages
from openstack_dashboard import policy

from image_importer import conf
from image_importer import failures
from image_importer import jobs
from image_importer.engine import checksum
from image_importer.engine import disk
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch

VISIBILITY_CHOICES = (
    ('private', pgettext_lazy('Visibility of an Image', 'Private')),
    ('shared', pgettext_lazy('Visibility of an Image', 'Shared')),
    ('community', pgettext_lazy('Visibility of an Image', 'Community')),
    ('public', pgettext_lazy('Visibility of an Image', 'Public')),
)


def disk_format_choices():
    """Automatic, then the formats Horizon offers that a job can produce."""
    producible = set(disk.WRITABLE) | {'iso'}
    return [('', _('Automatic (keep the format detected in the file)'))] + [
        (value, label) for value, label
        in settings.OPENSTACK_IMAGE_BACKEND['image_formats']
        if value in producible]


class ImportImageForm(forms.SelfHandlingForm):
    source_url = forms.CharField(
        label=_('Source URL'), max_length=2048,
        help_text=_('An http:// or https:// address of the image file. '
                    'It is downloaded by the cloud, not by your browser: '
                    'you can close this page once the import is queued.'))
    expected_checksum = forms.CharField(
        label=_('Expected Checksum'), max_length=255, required=False,
        help_text=_('Optional. The image is refused unless its checksum '
                    'matches: md5, sha1, sha224, sha256, sha384 or sha512, '
                    'as hex, optionally written sha256:HEX.'))
    checksum_url = forms.CharField(
        label=_('Checksum File URL'), max_length=2048, required=False,
        help_text=_('Optional, instead of a checksum: the URL of a '
                    'checksum file such as SHA256SUMS; the line for the '
                    'image\'s file name is used.'))
    name = forms.CharField(
        label=_('Image Name'), max_length=255, required=False,
        help_text=_('Leave empty to use the file name from the URL.'))
    description = forms.CharField(
        label=_('Description'), max_length=255, required=False,
        widget=forms.Textarea(attrs={'rows': 3}))
    disk_format = forms.ThemableChoiceField(
        label=_('Format in Glance'), required=False,
        help_text=_('The format is detected from the file\'s content. '
                    'Choose another one to convert it: raw for Ceph-backed '
                    'clouds, qcow2 for file stores.'))
    architecture = forms.CharField(
        label=_('Architecture'), max_length=255, required=False,
        help_text=_('CPU architecture of the image, e.g. x86_64.'))
    min_disk = forms.IntegerField(
        label=_('Minimum Disk (GB)'), min_value=0, required=False,
        help_text=_('The minimum disk size required to boot the image. '
                    'If unspecified, this value defaults to 0 (no minimum).'))
    min_ram = forms.IntegerField(
        label=_('Minimum RAM (MB)'), min_value=0, required=False,
        help_text=_('The minimum memory size required to boot the image. '
                    'If unspecified, this value defaults to 0 (no minimum).'))
    visibility = forms.ThemableChoiceField(label=_('Visibility'))
    protected = forms.BooleanField(
        label=_('Protected'), required=False,
        help_text=_('Prevent the deletion of the image.'))

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields['disk_format'].choices = disk_format_choices()
        choices = list(VISIBILITY_CHOICES)
        if not policy.check((('image', 'publicize_image'),), request):
            choices = [c for c in choices if c[0] != 'public']
        self.fields['visibility'].choices = choices
        default = settings.CREATE_IMAGE_DEFAULTS.get('image_visibility')
        allowed = [value for value, _label in choices]
        self.fields['visibility'].initial = (
            default if default in allowed else 'private')

    @staticmethod
    def _url(value):
        url = value.strip()
        schemes = list(conf.get('ALLOWED_SCHEMES'))
        try:
            validators.URLValidator(schemes=schemes)(url)
        except ValidationError:
            raise ValidationError(
                _('Enter a full URL starting with %s, for example '
                  'https://cloud-images.example.org/image.qcow2.')
                % ' or '.join('%s://' % s for s in schemes))
        return url

    def clean_source_url(self):
        return self._url(self.cleaned_data['source_url'])

    def clean_checksum_url(self):
        value = self.cleaned_data['checksum_url']
        if not value:
            return ''
        url = self._url(value)
        if fetch.split_credentials(url)[1] is not None:
            raise ValidationError(_('Put a user name and password only in '
                                    'the source URL.'))
        return url

    def clean_expected_checksum(self):
        value = self.cleaned_data['expected_checksum'].strip()
        if value:
            try:
                checksum.parse_expected(value)
            except ImportFailure as exc:
                raise ValidationError(failures.describe(exc.code,
                                                        exc.params))
        return value

    def clean(self):
        data = super().clean()
        if data.get('expected_checksum') and data.get('checksum_url'):
            self.add_error('checksum_url', _('Give either a checksum or a '
                                             'checksum file URL, not both.'))
        url = data.get('source_url')
        if url and not data.get('name'):
            data['name'] = jobs.name_from_url(url)
            if not data['name']:
                self.add_error('name', _('The URL has no file name; enter '
                                         'a name for the image.'))
        return data

    def handle(self, request, data):
        try:
            job = jobs.submit(request, data)
        except Exception:
            exceptions.handle(request, _('Unable to queue the import.'))
            return False
        messages.success(request, _('Import of "%s" queued. You can close '
                                    'this page; it goes on in the '
                                    'background.') % job.image_name)
        return job
