"""Plain-language, translatable text for each reason an import fails.

Each message says what went wrong and what to do. The engine raises codes
(``image_importer.engine.errors.ImportFailure``); the job stores the code and
its parameters, and the text is made when it is shown, in the reader's
language.
"""

from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

MESSAGES = {
    'invalid_url': _('"%(url)s" is not a valid URL. Enter a full http:// or '
                     'https:// address of the image file.'),
    'scheme_not_allowed': _('URLs starting with "%(scheme)s:" cannot be '
                            'imported. Use one of: %(allowed)s.'),
    'host_not_found': _('The server name "%(host)s" could not be found. '
                        'Check the URL for typing mistakes.'),
    'address_not_allowed': _('"%(host)s" points to an address this cloud '
                             'does not download from (%(address)s, port '
                             '%(port)s), such as an internal network. Use a '
                             'public URL, or ask the operator to allow this '
                             'mirror.'),
    'tls_error': _('The secure connection to %(host)s failed: %(reason)s. '
                   'Check that the server has a valid certificate.'),
    'connect_failed': _('Could not connect to %(host)s: %(reason)s. Check '
                        'the URL and that the server is up, then retry.'),
    'http_status': _('The server answered %(status)s %(reason)s. Check that '
                     'the URL points to the image file itself and that it '
                     'can be downloaded without logging in.'),
    'too_many_redirects': _('The URL redirected more than %(limit)s times. '
                            'Use the final address of the file.'),
    'too_large': _('The file is larger than this cloud accepts '
                   '(%(size_h)s; the limit is %(limit_h)s).'),
    'read_timeout': _('The server stopped sending data for %(seconds)s '
                      'seconds. Retry later or use another mirror.'),
    'connection_lost': _('The connection broke after %(done_h)s '
                         '(%(reason)s). Retry the import.'),
    'format_ambiguous': _('The file looks like more than one disk format at '
                          'once, which is refused for safety (%(detail)s).'),
    'format_refused': _('This file is a %(format)s image, which cannot be '
                        'imported. Convert it to qcow2 or raw first.'),
    'backing_file': _('This file is %(format)s with a backing file, which is '
                      'refused for safety: it would read another file on '
                      'the server. Use a standalone image (for example run '
                      '"qemu-img convert -O qcow2" on it first).'),
    'unsafe_image': _('This %(format)s file failed the safety checks '
                      '(%(checks)s) and is refused. Use an image from a '
                      'trusted source.'),
    'format_unreadable': _('This file claims to be %(format)s but is damaged '
                           'or incomplete (%(detail)s). Download it again '
                           'or use another copy.'),
    'format_disagreement': _('The image tools disagree about this file '
                             '(%(format)s / %(qemu)s), so it is refused for '
                             'safety.'),
    'qemu_failed': _('qemu-img could not %(step)s the image: %(detail)s'),
    'cannot_convert': _('A %(source)s image cannot be turned into %(target)s. '
                        'Choose Automatic (%(source)s) or another format '
                        'such as raw or qcow2.'),
    'token_expired': _('Your login expired before the import finished. '
                       'Retry the import; ask the operator to enable '
                       'trust delegation for long imports.'),
    'glance_forbidden': _('The Image service refused the image: %(detail)s. '
                          'Check the visibility you chose and your '
                          'project\'s permissions.'),
    'glance_too_large': _('The Image service refused the image as too large '
                          '(quota or size limit): %(detail)s'),
    'glance_error': _('The Image service answered %(status)s: %(detail)s'),
    'glance_unreachable': _('The Image service could not be reached. Retry '
                            'later.'),
    'glance_not_active': _('The Image service did not accept the data (the '
                           'image is %(status)s).'),
    'internal_error': _('The import failed because of an internal error. '
                        'Retry; if it fails again, tell the operator the '
                        'job id.'),
}


def describe(code, params):
    """The translated message for a failure code and its parameters."""
    template = MESSAGES.get(code, MESSAGES['internal_error'])
    values = dict(params or {})
    for key in ('size', 'limit', 'done'):
        if isinstance(values.get(key), int):
            values[key + '_h'] = filesizeformat(values[key])
    try:
        return template % values
    except (KeyError, TypeError, ValueError):
        return str(template).split('%(')[0].rstrip()
