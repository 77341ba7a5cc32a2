"""Follow a Source: what to follow, the image of each build, when to
look and what to do with older images."""

from django.forms import ValidationError
from django.utils.translation import gettext_lazy as _

from horizon import forms
from horizon import messages

from image_importer import conf
from image_importer.dashboards.project.image_imports import workflows
from image_importer.engine.errors import ImportFailure
from image_importer.engine import follow
from image_importer import failures
from image_importer.models import Subscription
from image_importer import subscriptions

KIND_CHOICES = (
    (follow.FILE, _('A URL that always points at the latest build')),
    (follow.FOLDER, _('A folder, and a file name pattern')),
    (follow.CHECKSUMS, _('A checksum file, and a file name pattern')),
)
HOUR = 3600
INTERVAL_CHOICES = (
    (6 * HOUR, _('Every 6 hours')),
    (24 * HOUR, _('Daily')),
    (7 * 24 * HOUR, _('Weekly')),
)


class FollowForm(forms.SelfHandlingForm):
    name = forms.CharField(
        label=_('Name'), max_length=255,
        help_text=_('What you follow, e.g. Ubuntu 24.04 amd64.'))
    kind = forms.ThemableChoiceField(label=_('Follow'),
                                     choices=KIND_CHOICES)
    source_url = forms.CharField(
        label=_('URL'), max_length=2048,
        help_text=_('The latest-build URL, the folder, or the checksum '
                    'file.'))
    pattern = forms.CharField(
        label=_('File Name Pattern'), max_length=255, required=False,
        help_text=_('For a folder or a checksum file: the names to follow, '
                    'with * for any part, e.g. '
                    'debian-12-generic-amd64-*.qcow2.'))
    image_name = forms.CharField(
        label=_('Image Name'), max_length=255, initial='{name} ({date})',
        help_text=_('{date}: the build\'s date; {file}: its file name; '
                    '{name}: this subscription\'s name.'))
    disk_format = forms.ThemableChoiceField(label=_('Format'),
                                            required=False)
    visibility = forms.ThemableChoiceField(label=_('Visibility'))
    protected = forms.BooleanField(label=_('Protected'), required=False)
    metadata = forms.CharField(
        label=_('Properties'), required=False,
        widget=forms.Textarea(attrs={'rows': 3,
                                     'placeholder': 'os_distro=ubuntu\n'
                                                    'os_version=24.04'}),
        help_text=_('One key=value per line, for every image.'))
    interval = forms.ThemableChoiceField(label=_('Look'), initial=24 * HOUR)
    keep = forms.IntegerField(
        label=_('Keep'), min_value=1, max_value=100, initial=3,
        help_text=_('How many of the newest images stay visible.'))
    retire = forms.ThemableChoiceField(
        label=_('Older Images'), choices=Subscription.RETIRE_CHOICES,
        help_text=_('Hidden images stay bootable by their id but leave the '
                    'image lists. A protected image is never deleted.'))

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        workflows.offer_image_choices(self.fields, request)
        shortest = conf.get('SUBSCRIPTION_MIN_INTERVAL')
        self.fields['interval'].choices = [
            (seconds, label) for seconds, label in INTERVAL_CHOICES
            if seconds >= shortest] or [(shortest, _('As often as this '
                                                     'cloud allows'))]

    def clean_source_url(self):
        return workflows.check_url(self.cleaned_data['source_url'])

    def clean_metadata(self):
        # No fields of their own here: the OS is a property.
        return workflows.metadata_lines(self.cleaned_data['metadata'],
                                        allow=('os_distro', 'os_version'))

    def clean_interval(self):
        seconds = int(self.cleaned_data['interval'])
        if seconds < conf.get('SUBSCRIPTION_MIN_INTERVAL'):
            raise ValidationError(_('This cloud looks at most every %d '
                                    'seconds.') % conf.get(
                                        'SUBSCRIPTION_MIN_INTERVAL'))
        return seconds

    def clean(self):
        data = super().clean()
        if data.get('kind') in (follow.FOLDER, follow.CHECKSUMS) and not (
                data.get('pattern') or '').strip():
            self.add_error('pattern', _('Give the file names to follow in '
                                        'this folder or checksum file.'))
        if data.get('kind') == follow.FILE and data.get('pattern'):
            self.add_error('pattern', _('A latest-build URL needs no '
                                        'pattern; leave it empty.'))
        return data

    def handle(self, request, data):
        try:
            if self.initial.get('sub_id'):
                sub = subscriptions.get(request, self.initial['sub_id'])
                subscriptions.edit(request, sub, data)
                messages.success(request, _('Saved "%s".') % data['name'])
                return sub
            sub = subscriptions.follow(request, data)
        except ImportFailure as exc:
            self.api_error(failures.describe(exc.code, exc.params))
            return False
        messages.success(request, _('Following "%s": its first look is '
                                    'under way.') % sub.name)
        return sub
