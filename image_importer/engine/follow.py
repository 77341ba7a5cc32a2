"""Follow a source: has its publisher put out a new release since the
last look?

A source is one of three kinds:

- ``FILE``: a URL that always points at the latest build
  (``.../noble/current/noble-server-cloudimg-amd64.img``). One ``HEAD``,
  conditional on what the last look saw (``If-None-Match`` /
  ``If-Modified-Since``): a new ETag or Last-Modified is a new release.
- ``FOLDER``: a folder and a file-name pattern; its listing's newest
  match (names compared with their numbers as numbers, so
  ``...-20261207.qcow2`` comes after ``...-20261130.qcow2``).
- ``CHECKSUMS``: a checksum file and a file-name pattern; its newest
  matching entry, whose hash changes with each build, and is then the
  checksum the import checks.

Each look is one small request, under the same URL policy as an import
(``fetch.Fetcher``); an unchanged source answers ``304`` or the same
validator, and nothing else is asked.
"""

import dataclasses
import email.utils
import fnmatch
import re

from image_importer.engine import checksum
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import published

FILE = 'file'
FOLDER = 'folder'
CHECKSUMS = 'checksums'
KINDS = (FILE, FOLDER, CHECKSUMS)

LISTING_LIMIT = published.LISTING_LIMIT
CHECKSUM_FILE_LIMIT = published.CHECKSUM_FILE_LIMIT
_DIGITS = re.compile(r'(\d+)')
_DATE = re.compile(r'(?<!\d)(20\d\d)-?([01]\d)-?([0-3]\d)(?!\d)')


@dataclasses.dataclass(frozen=True)
class Source:
    url: str
    kind: str = FILE
    pattern: str = ''


@dataclasses.dataclass(frozen=True)
class Release:
    """A build of the source: the file to import, what tells it from the
    others, and its date (``YYYY-MM-DD``, '' if unknown)."""

    url: str
    identity: str
    date: str = ''
    expected_checksum: str = ''

    @property
    def file_name(self):
        return fetch.file_name(self.url)


@dataclasses.dataclass(frozen=True)
class Look:
    """What a look found: the validator to send next time, and the
    newest release (``changed``: not the one seen last time)."""

    validator: str
    release: Release | None
    changed: bool


def natural_key(name):
    """``name`` with its numbers as numbers, for ordering builds."""
    return [int(part) if part.isdigit() else part
            for part in _DIGITS.split(name)]


def date_of(name, last_modified=''):
    """A build date from the file name (20261207, 2026-12-07), else from
    a Last-Modified header; '' if neither tells."""
    found = _DATE.search(name)
    if found:
        return '-'.join(found.groups())
    parsed = last_modified and email.utils.parsedate_to_datetime(
        last_modified)
    return parsed.date().isoformat() if parsed else ''


def look(fetcher, source, validator='', seen='', credentials=None):
    """Look at ``source`` once; ``validator`` and ``seen``: the validator
    and the release identity the last look recorded. ``ImportFailure``
    if the source cannot be read, or nothing in it matches."""
    headers = _conditional(validator)
    if source.kind == FILE:
        response, final = fetcher.open(source.url, credentials, headers,
                                       expect=(200, 304), method='HEAD')
        response.release_conn()
        if response.status == 304:
            return Look(validator, None, False)
        now = _validator(response)
        release = Release(final, now or final, date_of(
            fetch.file_name(final), response.headers.get('Last-Modified')))
        return Look(now, release, release.identity != seen)
    url = source.url
    if source.kind == FOLDER and not url.endswith('/'):
        url += '/'
    limit = LISTING_LIMIT if source.kind == FOLDER else CHECKSUM_FILE_LIMIT
    response, final = fetcher.open(url, credentials, headers,
                                   expect=(200, 304))
    try:
        if response.status == 304:
            return Look(validator, None, False)
        body = _read(response, limit)
    finally:
        response.release_conn()
    if source.kind == FOLDER:
        release = _newest_listed(final, body, source.pattern)
    else:
        release = _newest_entry(final, body, source.pattern)
    return Look(_validator(response), release, release.identity != seen)


def _conditional(validator):
    if not validator:
        return {}
    if validator.startswith(('"', 'W/')):
        return {'If-None-Match': validator}
    return {'If-Modified-Since': validator}


def _validator(response):
    return (response.headers.get('ETag') or
            response.headers.get('Last-Modified') or '')


def _read(response, limit):
    body = response.read(limit + 1)
    if len(body) > limit:
        raise ImportFailure('too_large', size=len(body), limit=limit)
    return body


def _matching(names, pattern):
    found = sorted((name for name in names
                    if fnmatch.fnmatchcase(name, pattern)), key=natural_key)
    if not found:
        raise ImportFailure('no_release', pattern=pattern)
    return found[-1]


def _newest_listed(folder, body, pattern):
    name = _matching(published.listed_names(body), pattern)
    return Release(folder + name, name, date_of(name))


def _newest_entry(checksum_url, body, pattern):
    entries = checksum.listed(body.decode('utf-8', 'replace'))
    name = _matching(entries, pattern)
    expected = entries[name]
    value = '%s:%s' % (expected.algorithm, expected.hexdigest)
    return Release(published.folder_of(checksum_url) + name,
                   '%s %s' % (name, value), date_of(name),
                   expected_checksum=value)
