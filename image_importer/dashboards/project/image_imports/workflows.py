"""The Import Image workflow: Source, Details (everything Create Image
asks) and Metadata, in a modal."""

import functools
import urllib.parse

from django.conf import settings
from django.core import validators
from django.forms import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from horizon import exceptions
from horizon import forms
from horizon import messages
from horizon import workflows
from openstack_dashboard import api
from openstack_dashboard import policy

from image_importer.api import glance as api_glance
from image_importer import conf
from image_importer.dashboards.project.image_imports import checks
from image_importer.engine import checksum
from image_importer.engine import disk
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import suggest
from image_importer import failures
from image_importer import jobs

VISIBILITY_CHOICES = (
    ('private', pgettext_lazy('Visibility of an Image', 'Private')),
    ('shared', pgettext_lazy('Visibility of an Image', 'Shared')),
    ('community', pgettext_lazy('Visibility of an Image', 'Community')),
    ('public', pgettext_lazy('Visibility of an Image', 'Public')),
)
# Glance's own fields, and properties that would change an image's owner,
# location or visibility: never set from the Metadata step.
RESERVED_PROPERTIES = {
    'id', 'name', 'status', 'owner', 'visibility', 'os_hidden', 'protected',
    'disk_format', 'container_format', 'min_disk', 'min_ram', 'size',
    'virtual_size', 'checksum', 'os_hash_algo', 'os_hash_value', 'tags',
    'created_at', 'updated_at', 'deleted', 'deleted_at', 'locations',
    'location', 'direct_url', 'file', 'schema', 'self', 'stores',
    'description', 'architecture', 'kernel_id', 'ramdisk_id',
    'os_distro', 'os_version',
}


def disk_format_choices():
    """Automatic, then the formats Horizon offers that a job can produce."""
    producible = set(disk.WRITABLE) | {'iso'}
    return [('', _('Automatic (keep the format detected in the file)'))] + [
        (value, label) for value, label
        in settings.OPENSTACK_IMAGE_BACKEND['image_formats']
        if value in producible]


def check_url(value):
    url = value.strip()
    schemes = list(conf.get('ALLOWED_SCHEMES'))
    try:
        validators.URLValidator(schemes=schemes)(url)
        # What the worker parses must parse (a port over 65535 passes
        # Django's validator).
        fetch.split_credentials(url)
    except (ValidationError, ImportFailure):
        raise ValidationError(
            _('Enter a full URL starting with %s, for example '
              'https://cloud-images.example.org/image.qcow2.')
            % ' or '.join('%s://' % s for s in schemes))
    return url


def check_checksum_url(value):
    """A checksum file's URL, as the form takes it ('' for none)."""
    if not value:
        return ''
    url = check_url(value)
    if fetch.split_credentials(url)[1] is not None:
        raise ValidationError(_('Put a user name and password only in '
                                'the source URL.'))
    return url


def check_checksum(value):
    """An expected checksum, as the form takes it ('' for none)."""
    value = value.strip()
    if value:
        try:
            checksum.parse_expected(value)
        except ImportFailure as exc:
            raise ValidationError(failures.describe(exc.code, exc.params))
    return value


def check_property(key, allow=()):
    """A custom property's name, unless Glance or the other fields own
    it (but those in ``allow``)."""
    if key in allow:
        return key
    if key in RESERVED_PROPERTIES or key.startswith('os_glance'):
        raise ValidationError(
            _('"%s" is set by the Image service or by the other '
              'steps and cannot be a custom property.') % key)
    return key


def metadata_lines(text, allow=()):
    """The properties of ``key=value`` lines (``allow``: reserved names
    a form without fields of their own takes as properties)."""
    properties = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition('=')
        key = key.strip()
        if not sep or not key:
            raise ValidationError(_('Line %d is not key=value.') % number)
        properties[check_property(key, allow)] = value.strip()
    return properties


def offer_image_choices(fields, request):
    """Format and visibility choices, with their defaults, in a form of
    several images (Import Many, Follow a Source)."""
    fields['disk_format'].choices = disk_format_choices()
    fields['disk_format'].initial = conf.get('DEFAULT_DISK_FORMAT')
    fields['visibility'].choices = visibility_choices(request)
    fields['visibility'].initial = 'private'


def visibility_choices(request):
    """Create Image's visibilities, public only for who may publicize."""
    choices = list(VISIBILITY_CHOICES)
    if not policy.check((('image', 'publicize_image'),), request):
        choices = [c for c in choices if c[0] != 'public']
    return choices


class SourceAction(workflows.Action):
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
    skip_published_checksum = forms.BooleanField(
        label=_('No Checksum'), required=False,
        help_text=_('Import without checking the image: with no checksum '
                    'given above, the checksum file its publisher put '
                    'beside it (SHA256SUMS, CHECKSUM, ...) is not looked '
                    'for either.'))
    # Edit and retry: the finished job this import replaces.
    retry_of = forms.UUIDField(required=False, widget=forms.HiddenInput())

    class Meta:
        name = _('Source')
        slug = 'source'
        help_text = _('Where the image comes from, and how to check it. '
                      'The format is found from the file\'s content; '
                      'gzip, xz, bzip2 and zstd files, OVAs and tar '
                      'archives with one disk are unpacked.')

    def __init__(self, request, context, *args, **kwargs):
        super().__init__(request, context, *args, **kwargs)
        if not conf.get('FIND_CHECKSUMS'):
            # Nothing is looked for: no choice to offer.
            del self.fields['skip_published_checksum']

    def clean_source_url(self):
        return check_url(self.cleaned_data['source_url'])

    def clean_checksum_url(self):
        return check_checksum_url(self.cleaned_data['checksum_url'])

    def clean_expected_checksum(self):
        return check_checksum(self.cleaned_data['expected_checksum'])

    def clean(self):
        data = super().clean()
        if data.get('expected_checksum') and data.get('checksum_url'):
            self.add_error('checksum_url', _('Give either a checksum or a '
                                             'checksum file URL, not both.'))
        self._clean_no_checksum(data)
        if data.get('source_url'):
            # What Check URL would say, said again at submit.
            checked = checks.check_for(self.request, data['source_url'],
                                       self._reused_credentials(data))
            if checked.failure is not None:
                self.add_error('source_url', checked.error)
        return data

    def _clean_no_checksum(self, data):
        if not data.get('skip_published_checksum'):
            return
        if data.get('expected_checksum') or data.get('checksum_url'):
            self.add_error('skip_published_checksum', _(
                'Untick No Checksum to check the image against the '
                'checksum you gave, or clear it.'))
        elif data.get('source_url') and conf.signature_required(
                data['source_url']):
            self.add_error('skip_published_checksum', _(
                'This cloud imports images from %s only with a checksum '
                'file signed by a key it trusts: untick No Checksum.')
                % urllib.parse.urlsplit(data['source_url']).hostname)

    def _reused_credentials(self, data):
        """The source password an edit and retry sends again, so that
        the check sees what the import will."""
        job = data.get('retry_of') and jobs.replaced_job(
            self.request, data['retry_of'])
        return job and jobs.reused_credentials(self.request, job,
                                               data['source_url'])


class SourceStep(workflows.Step):
    action_class = SourceAction
    template_name = 'project/image_imports/_source_step.html'
    contributes = ('source_url', 'expected_checksum', 'checksum_url',
                   'skip_published_checksum', 'retry_of')


class DetailsAction(workflows.Action):
    name = forms.CharField(
        label=_('Image Name'), max_length=255, required=False,
        help_text=_('Leave empty to use the file name from the URL.'))
    description = forms.CharField(
        label=_('Image Description'), max_length=255, required=False,
        widget=forms.Textarea(attrs={'rows': 3}))
    disk_format = forms.ThemableChoiceField(
        label=_('Format'), required=False,
        help_text=_('Automatic keeps the format found in the file. Another '
                    'choice converts it: raw for Ceph-backed clouds, qcow2 '
                    'for file stores.'))
    kernel = forms.ThemableChoiceField(label=_('Kernel'), required=False)
    ramdisk = forms.ThemableChoiceField(label=_('Ramdisk'), required=False)
    architecture = forms.CharField(
        label=_('Architecture'), max_length=255, required=False,
        help_text=_('CPU architecture of the image, e.g. x86_64. Suggested '
                    'from the file name when left empty.'))
    os_distro = forms.CharField(
        label=_('OS Distribution'), max_length=255, required=False,
        help_text=_('The os_distro property, e.g. ubuntu. Suggested from '
                    'the file name when left empty.'))
    os_version = forms.CharField(
        label=_('OS Version'), max_length=255, required=False,
        help_text=_('The os_version property, e.g. 22.04. Suggested from '
                    'the file name when left empty.'))
    min_disk = forms.IntegerField(
        label=_('Minimum Disk (GB)'), min_value=0, required=False,
        help_text=_('The minimum disk size required to boot the image. '
                    'If unspecified, the disk size the image describes, '
                    'where the start of the file tells it; else 0.'))
    min_ram = forms.IntegerField(
        label=_('Minimum RAM (MB)'), min_value=0, required=False, initial=0,
        help_text=_('The minimum memory size required to boot the image. '
                    'If unspecified, this value defaults to 0 (no minimum).'))
    visibility = forms.ThemableChoiceField(label=_('Visibility'))
    protected = forms.BooleanField(
        label=_('Protected'), required=False,
        help_text=_('Prevent the deletion of the image.'))

    class Meta:
        name = _('Details')
        slug = 'details'
        help_text = _('The fields of the image in Glance, as in Create '
                      'Image.')

    def __init__(self, request, context, *args, **kwargs):
        super().__init__(request, context, *args, **kwargs)
        self.fields['disk_format'].choices = disk_format_choices()
        self.fields['disk_format'].initial = conf.get('DEFAULT_DISK_FORMAT')
        choices = visibility_choices(request)
        self.fields['visibility'].choices = choices
        default = settings.CREATE_IMAGE_DEFAULTS.get('image_visibility')
        self.fields['visibility'].initial = (
            default if default in dict(choices) else 'private')
        self._offer_images()

    def _offer_images(self):
        """Kernel and ramdisk choices, shown only where such images exist
        (as in Create Image), from one Glance list of both formats."""
        try:
            found = api.glance.image_list_detailed(
                self.request, filters={'disk_format': 'in:aki,ari'})[0]
        except Exception:
            found = []
            exceptions.handle(self.request,
                              _('Unable to retrieve image list.'))
        for field, disk_format in (('kernel', 'aki'), ('ramdisk', 'ari')):
            images = [image for image in found
                      if image.disk_format == disk_format]
            if images:
                self.fields[field].choices = [
                    ('', _('Choose an image'))] + [
                    (image.id, image.name or image.id) for image in images]
            else:
                del self.fields[field]

    def clean(self):
        data = super().clean()
        url = self.data.get('source_url', '')
        if not data.get('name'):
            data['name'] = jobs.name_from_url(url)
            if not data['name']:
                self.add_error('name', _('The URL has no file name; enter '
                                         'a name for the image.'))
        checked = checks.checked_before(self.request, url.strip())
        look = checked.look
        hints = suggest.suggest(
            (look and look.member) or jobs.name_from_url(url),
            look.virtual_size if look else None)
        for field in ('architecture', 'os_distro', 'os_version'):
            if not data.get(field):
                data[field] = hints.get(field, '')
        if data.get('min_disk') is None:
            data['min_disk'] = hints.get('min_disk', 0)
        refusal = checked.refusal_for(data.get('disk_format'))
        if refusal is not None:
            self.add_error('disk_format', failures.describe(
                refusal.code, refusal.params))
        return data


class DetailsStep(workflows.Step):
    action_class = DetailsAction
    template_name = 'project/image_imports/_step.html'
    contributes = ('name', 'description', 'disk_format', 'kernel',
                   'ramdisk', 'architecture', 'os_distro', 'os_version',
                   'min_disk', 'min_ram', 'visibility', 'protected')


class MetadataAction(workflows.Action):
    # Create Image's label for the properties the image will have.
    metadata = forms.CharField(
        label=_('Existing Metadata'), required=False,
        widget=forms.Textarea(attrs={'rows': 10,
                                     'placeholder': 'hw_disk_bus=virtio'}),
        help_text=_('One key=value per line: add items from Available '
                    'Metadata, or type your own.'))

    class Meta:
        name = _('Metadata')
        slug = 'metadata'
        help_text = _('Custom properties of the image. Properties Glance '
                      'reserves, or that would change the image\'s owner, '
                      'location or visibility, are refused.')

    def clean_metadata(self):
        return metadata_lines(self.cleaned_data['metadata'])


class MetadataStep(workflows.Step):
    action_class = MetadataAction
    template_name = 'project/image_imports/_metadata_step.html'
    contributes = ('metadata',)

    @functools.cached_property
    def catalog(self):
        """The Metadata Catalog's properties for images, but those the
        other steps set (None if Glance cannot say now)."""
        return api_glance.metadata_catalog(self.workflow.request,
                                           exclude=RESERVED_PROPERTIES)


class ImportImage(workflows.Workflow):
    slug = 'import_image'
    name = _('Import Image')
    finalize_button_name = _('Import Image')
    success_message = _('Import of "%s" queued. You can close this page; '
                        'it goes on in the background.')
    failure_message = _('Unable to queue the import of "%s".')
    success_url = 'horizon:project:image_imports:index'
    default_steps = (SourceStep, DetailsStep, MetadataStep)

    def format_status_message(self, message):
        return message % self.context.get('name', '')

    def handle(self, request, context):
        try:
            api_glance.check_quota(request)
            if context.get('retry_of'):
                jobs.resubmit(request, self._replaced(request, context),
                              context)
            else:
                jobs.submit(request, context)
        except ImportFailure as exc:
            # A Glance quota, or a queued limit (limits.LimitReached).
            self._refuse(failures.describe(exc.code, exc.params))
        unchecked = checks.checked_before(request,
                                          context['source_url']).unchecked
        if unchecked:
            messages.warning(request, _(
                'The URL could not be checked now (%s); the import tries '
                'again, longer.') % unchecked)
        return True

    def _replaced(self, request, context):
        """The finished job of the project that an edit and retry
        replaces (404 for any other)."""
        job = jobs.get_job(request, context['retry_of'])
        if not job.is_finished:
            self._refuse(_('That import is running again already; stop '
                           'it before editing it.'))
        return job

    def _refuse(self, message):
        """Say why on the form, which keeps everything the user entered."""
        self.add_error_to_step(message, SourceStep.action_class.slug)
        raise ValidationError(message)
