"""Checking a source URL from the dashboard, before anything is queued.

Check URL and the Import form's submit both read the start of the file
(``engine.fetch.probe``, under the worker's URL rules, with short
timeouts and a total deadline, in a thread of its own since this runs in
Horizon's) and say what it is (``engine.preview``): its format and
virtual size, and what an import of it would refuse.
"""

import dataclasses
import threading
import time

from django.core.cache import cache
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from image_importer import conf
from image_importer.dashboards.project.image_imports import origin as \
    import_origin
from image_importer.engine import checksum
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import pipeline
from image_importer.engine import preview
from image_importer.engine import provenance
from image_importer.engine import suggest
from image_importer import failures

CHECK_TIMEOUT = 5
GIB = 1024 ** 3
# Failures that may pass: the URL may work when the worker tries it.
MAY_PASS = {'connect_failed', 'no_answer', 'tls_error', 'deadline_exceeded',
            'connection_lost', 'too_slow'}
FORMAT_NAMES = {
    'qcow2': _('qcow2 disk image'), 'raw': _('raw disk image'),
    'vmdk': _('VMDK disk image'), 'vdi': _('VDI disk image'),
    'vhd': _('VHD disk image'), 'vhdx': _('VHDX disk image'),
    'iso': _('ISO image (installer or CD)'),
}


@dataclasses.dataclass(frozen=True)
class Checked:
    """What a check found: ``found`` and ``look`` (``fetch.Probe`` and
    ``preview.Preview``) when the server answered; ``failure`` an
    ``ImportFailure`` that refuses the URL now; ``unchecked`` a message
    when the URL could not be checked now (it may still work)."""

    found: fetch.Probe | None = None
    look: preview.Preview | None = None
    failure: ImportFailure | None = None
    unchecked: str = ''
    # What the publisher's checksum files say (``provenance.Provenance``),
    # when asked for; None when they could not be read now.
    origin: provenance.Provenance | None = None

    @property
    def error(self):
        """The message of a refusal, or ''."""
        return _message(self.failure)

    def refusal_for(self, disk_format):
        """The ``ImportFailure`` that turning this file into
        ``disk_format`` ('' for automatic) would meet, known now."""
        look = self.look
        if look is None or look.format is None or not disk_format:
            return None
        try:
            pipeline.choose_route(look.format, disk_format,
                                  look.member or self.found.file_name,
                                  arriving=False, streaming=False,
                                  can_stream_raw=False)
        except ImportFailure as exc:
            return exc
        limit = conf.get('MAX_IMAGE_SIZE')
        if (disk_format == 'raw' and look.format != 'raw' and
                look.virtual_size and look.virtual_size > limit):
            return ImportFailure('raw_too_large', size=look.virtual_size,
                                 limit=limit, source=look.format)
        return None


def allowed(user_id):
    """Whether the user may check one more URL now (CHECK_URL_RATE)."""
    count, window = conf.get('CHECK_URL_RATE')
    key = 'image-importer-check:%s:%d' % (user_id, time.time() // window)
    cache.add(key, 0, int(window) + 1)
    try:
        return cache.incr(key) <= count
    except ValueError:       # the entry expired in between: a new window
        return True


def _within(seconds, call, *args):
    """``(result, None)`` or ``(None, ImportFailure)`` of ``call(*args)``
    if it ends within ``seconds``; None if it does not (the call goes on
    in its thread until its own bounds end it)."""
    outcome = []

    def run():
        try:
            outcome.append((call(*args), None))
        except ImportFailure as exc:
            outcome.append((None, exc))
        except Exception as exc:  # the request's thread reports it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True,
                              name='image-importer-check')
    thread.start()
    thread.join(seconds)
    if not outcome:
        return None
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


def _look(url, credentials, published):
    policy = conf.url_policy(connect_timeout=CHECK_TIMEOUT,
                             read_timeout=CHECK_TIMEOUT)
    fetcher = fetch.Fetcher(policy)
    found = fetch.probe(fetcher, url, credentials)
    look = preview.describe(found, conf.get('MAX_VIRTUAL_SIZE'),
                            conf.get('MAX_IMAGE_SIZE'))
    origin = None
    if published and look.refusal is None:
        origin = _published(fetcher, url, credentials)
    return found, look, origin


def _published(fetcher, url, credentials):
    """What the publisher's checksum files say, as the worker will read
    them; a bad signature or a missing required one refuses the URL."""
    try:
        return provenance.establish(fetcher, url, credentials,
                                    policy=conf.checksum_policy(url))
    except ImportFailure as exc:
        if exc.code in ('signature_bad', 'signature_required'):
            raise
        return None     # the worker tries again, longer


def check(url, credentials=None, published=False):
    """Check ``url`` (credentials in it, else ``credentials``, go to its
    server only); with ``published``, look for its publisher's checksum
    files too."""
    url, in_url = fetch.split_credentials(url)
    credentials = in_url or credentials
    deadline = conf.get('CHECK_URL_DEADLINE')
    outcome = _within(deadline, _look, url, credentials, published)
    if outcome is None:
        return Checked(unchecked=str(_(
            'The server did not answer within %d seconds.') % deadline))
    result, failure = outcome
    if failure is not None and _may_pass(failure):
        return Checked(unchecked=str(failures.describe(failure.code,
                                                       failure.params)))
    if failure is not None:
        return Checked(failure=failure)
    found, look, origin = result
    return Checked(found=found, look=look, failure=look.refusal,
                   origin=origin)


def _may_pass(failure):
    """A failure of the server or the network that may be gone when the
    worker tries: a server error, a refused or silent connection."""
    if failure.code == 'http_status':
        return str(failure.params.get('status', '')).startswith('5')
    return failure.code in MAY_PASS


def check_for(request, url, credentials=None):
    """``check(url, credentials)`` once per request, for the steps of one
    submit, within the user's rate of checks: a refused submit queues
    nothing, so the queued limits would never see it. Past the rate the
    URL is not checked (the job is queued, under those limits)."""
    memo = request.__dict__.setdefault('_image_importer_checks', {})
    if url not in memo:
        memo[url] = (check(url, credentials) if allowed(request.user.id)
                     else Checked(unchecked=str(_(
                         'too many checks in a short time'))))
    return memo[url]


def checked_before(request, url):
    """What ``check_for`` found of ``url`` in this request, if it ran."""
    return request.__dict__.get('_image_importer_checks', {}).get(
        url, Checked())


def summary(checked):
    """What Check URL shows of a file (JSON-ready)."""
    found, look = checked.found, checked.look
    name = look.member or found.file_name
    hints = suggest.suggest(name, look.virtual_size)
    return {
        'file_name': found.file_name,
        'size': found.size,
        'size_h': filesizeformat(found.size) if found.size else '',
        'content_type': found.content_type,
        'resumable': found.resumable,
        'format': look.format or '',
        'format_h': str(FORMAT_NAMES.get(look.format, '')),
        'virtual_size': look.virtual_size,
        'virtual_h': (filesizeformat(look.virtual_size)
                      if look.virtual_size else ''),
        'compression': look.compression or '',
        'member': look.member or '',
        'description': describe(found, look),
        'refusal': checked.error,
        # Said now, whatever format is chosen: a disk too large to be
        # made raw (only the formats that can be made raw).
        'raw_refusal': _message(checked.refusal_for('raw')
                                if look.format not in ('raw', 'iso')
                                else None),
        'suggestions': hints,
        'published': published_summary(checked.origin, name),
    }


def source_checksum(checked, typed=''):
    """The file's checksum as ``algorithm:hex``, known before any
    download: the one typed in the form, else the publisher's; ''."""
    if typed.strip():
        try:
            expected = checksum.parse_expected(typed)
        except ImportFailure:
            return ''
    elif checked.origin is not None and checked.origin.expected:
        expected = checked.origin.expected
    else:
        return ''
    return '%s:%s' % (expected.algorithm, expected.hexdigest)


def published_summary(origin, name):
    """What Check URL says of the publisher's checksum files (JSON-ready),
    or None when they were not looked at."""
    if origin is None or origin.checksum_from not in (provenance.FOUND,
                                                      provenance.NONE):
        return None
    if origin.expected is None:
        return {'found': False, 'text': str(_(
            'No checksum file found beside it: the import is not verified '
            'unless you give a checksum.'))}
    found = origin.as_dict()
    checksum_file = fetch.file_name(origin.checksum_url)
    return dict(
        found, found=True, file=checksum_file,
        text=str(_('%(file)s found beside it, with a %(algorithm)s line '
                   'for %(name)s; %(verdict)s.') % {
            'file': checksum_file, 'algorithm': origin.expected.algorithm,
            'name': name, 'verdict': import_origin.verdict(found)}))


def _message(failure):
    if failure is None:
        return ''
    return str(failures.describe(failure.code, failure.params))


def describe(found, look):
    """One line: "qcow2 disk image, 2.0 GB virtual, 64.0 MB file (named
    .img)", as far as the start of the file tells."""
    parts = []
    if look.format:
        parts.append(str(FORMAT_NAMES.get(look.format, look.format)))
    else:
        parts.append(str(_('format not known from the start of the file')))
    if look.virtual_size and look.format != 'iso':
        parts.append(str(_('%s virtual') % filesizeformat(look.virtual_size)))
    size = filesizeformat(found.size) if found.size else str(_('unknown'))
    packing = ' '.join(filter(None, [look.compression, look.archive]))
    extension = found.file_name.rpartition('.')[2] if (
        '.' in found.file_name) else ''
    detail = []
    if packing:
        detail.append(str(_('%s, holding %s') % (packing, look.member))
                      if look.member else packing)
    if extension and extension.lower() != (look.format or '').lower():
        detail.append(str(_('named .%s') % extension))
    text = str(_('%s file') % size)
    if detail:
        text += ' (%s)' % '; '.join(detail)
    parts.append(text)
    return ', '.join(parts)
