"""Import many at once: a URL per line, or a manifest (YAML or JSON) of
images. Each entry is checked by the Import form's own rules, and every
error is said at once, before anything is queued.

A manifest is a list of images, or a mapping whose ``images`` is one;
an image is its URL, or a mapping of the fields in ``FIELDS``::

    images:
      - https://images.example.org/noble-server-cloudimg-amd64.img
      - url: https://images.example.org/debian-12-generic-amd64.qcow2
        name: Debian 12
        disk_format: raw
        properties: {hw_disk_bus: virtio}
"""

import json

from django.forms import ValidationError
from django.utils.translation import gettext as _
import yaml

from image_importer.dashboards.project.image_imports import workflows
from image_importer.engine import suggest
from image_importer import jobs

# The most images one list may hold; the queued limits apply too.
MAX_IMAGES = 100
MAX_TEXT = 256 * 1024

# A manifest's field -> the form's.
FIELDS = {
    'url': 'source_url', 'name': 'name', 'description': 'description',
    'disk_format': 'disk_format', 'architecture': 'architecture',
    'os_distro': 'os_distro', 'os_version': 'os_version',
    'min_disk': 'min_disk', 'min_ram': 'min_ram',
    'visibility': 'visibility', 'protected': 'protected',
    'checksum': 'expected_checksum', 'checksum_url': 'checksum_url',
    'no_checksum': 'skip_published_checksum', 'properties': 'metadata',
}
TEXT = ('name', 'description', 'architecture', 'os_distro', 'os_version')


class Invalid(Exception):
    """Every error of a list, each naming its image or line."""

    def __init__(self, errors):
        super().__init__('; '.join(errors))
        self.errors = errors


def url_lines(text):
    """The images of a URL per line (blank lines and # comments left
    out), as ``(where, entry)``."""
    return [(_('Line %d') % number, {'url': line.strip()})
            for number, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.strip().startswith('#')]


def manifest(text):
    """The images of a YAML or JSON manifest, as ``(where, entry)``;
    ``Invalid`` if it cannot be read."""
    stripped = text.strip()
    try:
        if stripped.startswith(('{', '[')):
            found, lines = json.loads(stripped), None
        else:
            found, lines = _yaml(stripped)
    except (ValueError, yaml.YAMLError) as exc:
        raise Invalid([_('The manifest is not valid YAML or JSON: %s')
                       % _first_line(exc)])
    if isinstance(found, dict) and set(found) == {'images'}:
        found = found['images']
        lines = lines and lines.get('images')
    if not isinstance(found, list) or not found:
        raise Invalid([_('The manifest must be a list of images, or have '
                         'one under "images:".')])
    return [(_('Image %(number)d (line %(line)d)') % {
        'number': number, 'line': lines[number - 1]} if lines
        else _('Image %d') % number,
        entry if isinstance(entry, dict) else {'url': entry})
        for number, entry in enumerate(found, 1)]


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ''


def _yaml(text):
    """The YAML document, and the line of each image of its list (a
    dict ``{'images': lines}`` or a list of lines). Anchors and aliases
    are refused: they let a few lines stand for a huge document."""
    for token in yaml.scan(text):
        if isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
            raise ValueError(_('anchors and aliases (& and *) are not '
                               'accepted'))
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    found = yaml.safe_load(text)
    return found, _lines(node)


def _lines(node):
    if isinstance(node, yaml.SequenceNode):
        return [item.start_mark.line + 1 for item in node.value]
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == 'images' and isinstance(value,
                                                    yaml.SequenceNode):
                return {'images': _lines(value)}
    return None


def entries(request, found, common):
    """The form data of each image of ``found`` (``(where, entry)``),
    ``common`` filling what an entry leaves out; ``Invalid`` with every
    error if any entry has one."""
    if not found:
        raise Invalid([_('Give at least one URL.')])
    if len(found) > MAX_IMAGES:
        raise Invalid([_('%(count)d images in one list; at most %(max)d '
                         'are accepted.') % {'count': len(found),
                                             'max': MAX_IMAGES}])
    errors, done = [], []
    allowed = {
        'disk_format': dict(workflows.disk_format_choices()),
        'visibility': dict(workflows.visibility_choices(request)),
    }
    for where, entry in found:
        try:
            done.append(_entry(entry, common, allowed))
        except ValidationError as exc:
            errors.extend('%s: %s' % (where, message)
                          for message in exc.messages)
    if errors:
        raise Invalid(errors)
    return done


def _entry(entry, common, allowed):
    unknown = sorted(set(entry) - set(FIELDS), key=str)
    if unknown:
        raise ValidationError(_('unknown field %(field)s (known: '
                                '%(known)s)') % {
            'field': ', '.join('"%s"' % key for key in unknown),
            'known': ', '.join(FIELDS)})
    if not isinstance(entry.get('url'), str) or not entry['url'].strip():
        raise ValidationError(_('no URL ("url:")'))
    data = dict(common)
    for key, value in entry.items():
        data[FIELDS[key]] = value
    data['source_url'] = workflows.check_url(data['source_url'])
    for key in TEXT:
        if not isinstance(data.get(key) or '', str) or len(
                data.get(key) or '') > 255:
            raise ValidationError(_('"%s" must be text of at most 255 '
                                    'characters') % key)
    _choice(data, 'disk_format', allowed)
    _choice(data, 'visibility', allowed)
    for key in ('min_disk', 'min_ram'):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or
                                  isinstance(value, bool) or value < 0):
            raise ValidationError(_('"%s" must be a whole number, 0 or '
                                    'more') % key)
    for key in ('protected', 'skip_published_checksum'):
        if not isinstance(data.get(key, False), bool):
            raise ValidationError(_('"%s" must be true or false') % key)
    data['expected_checksum'] = workflows.check_checksum(
        str(data.get('expected_checksum') or ''))
    data['checksum_url'] = workflows.check_checksum_url(
        str(data.get('checksum_url') or ''))
    if data['expected_checksum'] and data['checksum_url']:
        raise ValidationError(_('give either "checksum" or '
                                '"checksum_url", not both'))
    data['metadata'] = dict(common.get('metadata') or {},
                            **_properties(entry.get('properties')))
    return _named(data)


def _choice(data, key, allowed):
    value = data.get(key) or ''
    if value not in allowed[key]:
        raise ValidationError(_('"%(key)s" cannot be "%(value)s" (one '
                                'of: %(choices)s)') % {
            'key': key, 'value': value,
            'choices': ', '.join(v for v in allowed[key] if v)})


def _properties(value):
    if isinstance(value, str):
        return workflows.metadata_lines(value)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(v, (str, int, float, bool)) for v in value.values()):
        raise ValidationError(_('"properties" must be a mapping of names '
                                'to values'))
    return {workflows.check_property(str(key)): str(v)
            for key, v in value.items()}


def _named(data):
    """The name from the file name, and what it suggests, where the entry
    leaves them out (as the Details step does)."""
    if not data.get('name'):
        data['name'] = jobs.name_from_url(data['source_url'])
        if not data['name']:
            raise ValidationError(_('the URL has no file name; give a '
                                    '"name"'))
    hints = suggest.suggest(jobs.name_from_url(data['source_url']), None)
    for key in ('architecture', 'os_distro', 'os_version'):
        if not data.get(key):
            data[key] = hints.get(key, '')
    if data.get('min_disk') is None:
        data['min_disk'] = hints.get('min_disk', 0)
    return data
