"""The checksum files publishers put beside their images, found without
the user naming them.

Every major distribution publishes, next to its cloud images, a file of
checksums, most often signed: Ubuntu ``SHA256SUMS`` (+ ``.gpg``), Debian
``SHA512SUMS`` (+ ``.sign``), Fedora ``*-CHECKSUM`` (clearsigned), CentOS
Stream, Rocky and Alma ``CHECKSUM`` or ``<image>.SHA256SUM`` /
``<image>.CHECKSUM`` (clearsigned, or with ``.asc``), openSUSE
``<image>.sha256`` (+ ``.asc``), Alpine ``<image>.sha512``, Arch
``<image>.SHA256``, FreeBSD ``CHECKSUM.SHA256-*`` and cirros ``MD5SUMS``.

``find`` reads the folder's listing when the server gives one (one
request) and asks only for the files it names; without a listing it tries
the usual names. Each request is small and bounded, under the same URL
rules as the image; at most ``MAX_REQUESTS`` are made, within
``DEADLINE`` seconds in all. The first file
with a line for the image's own name wins; none found is an answer too.
"""

import dataclasses
import fnmatch
import html
import re
import time
import urllib.parse

from image_importer.engine import checksum
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch

MAX_REQUESTS = 10
DEADLINE = 60
CHECKSUM_FILE_LIMIT = 1024 * 1024
LISTING_LIMIT = 512 * 1024
SIGNATURE_LIMIT = 64 * 1024
CLEARSIGNED = b'-----BEGIN PGP SIGNED MESSAGE-----'
SIGNATURE_SUFFIXES = ('.gpg', '.sign', '.asc', '.sig')

# (name, or a pattern with {image} for the image's file name or * for a
# listing match; detached signatures beside it), most specific first.
LAYOUTS = (
    ('{image}.sha256', ('{image}.sha256.asc',)),          # openSUSE
    ('{image}.SHA256SUM', ('{image}.SHA256SUM.asc',)),    # CentOS Stream
    ('{image}.CHECKSUM', ('{image}.CHECKSUM.asc',)),      # Rocky
    ('{image}.sha512', ('{image}.sha512.asc',)),          # Alpine
    ('{image}.SHA256', ('{image}.SHA256.sig',)),          # Arch
    ('SHA256SUMS', ('SHA256SUMS.gpg', 'SHA256SUMS.sign')),  # Ubuntu
    ('SHA512SUMS', ('SHA512SUMS.sign', 'SHA512SUMS.gpg')),  # Debian
    ('CHECKSUM', ('CHECKSUM.asc', 'CHECKSUM.sig')),       # Alma, Rocky
    ('*-CHECKSUM', ()),                                   # Fedora
    ('CHECKSUM.SHA256-*', ()),                            # FreeBSD
    ('CHECKSUM.SHA512-*', ()),                            # FreeBSD
    ('MD5SUMS', ()),                                      # cirros
)
# Without a listing: the names tried, in this order (the patterns need
# one).
BLIND = ('SHA256SUMS', 'SHA512SUMS', 'CHECKSUM', '{image}.sha256',
         '{image}.SHA256SUM', '{image}.CHECKSUM', '{image}.sha512',
         'MD5SUMS')
_HREF = re.compile(rb'href\s*=\s*["\']([^"\'?#]+)["\']', re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Published:
    """What the publisher's files beside an image say of it.

    ``expected`` is None when no file listed the image; ``tried`` names
    the files asked for, ``skipped`` those that could not be used (and
    why, as ``(name, ImportFailure)``)."""

    checksum_url: str = ''
    expected: checksum.Expected | None = None
    text: bytes = b''                   # the checksum file as fetched
    clearsigned: bool = False
    signature_url: str = ''             # a detached signature beside it
    signature: bytes = b''
    tried: tuple = ()
    skipped: tuple = ()

    specific: bool = False              # the image's own file

    @property
    def name(self):
        """The checksum file's name."""
        return fetch.file_name(self.checksum_url)


def folder_of(url):
    """The image's folder: its URL up to the last '/', without a query
    (a signed URL's query signs the image alone)."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path.rsplit('/', 1)[0] + '/'
    return urllib.parse.urlunsplit(parts._replace(path=path, query='',
                                                  fragment=''))


def listed_names(body):
    """The file names a folder listing (an HTML index) links to."""
    names = set()
    for href in _HREF.findall(body):
        name = urllib.parse.unquote(html.unescape(href.decode('utf-8',
                                                              'replace')))
        name = name.rsplit('/', 1)[-1] if not name.endswith('/') else ''
        if name:
            names.add(name)
    return names


def candidates(image, listing=None):
    """``(name, signature names, specific)`` to ask for, in order: the
    files the listing names when there is one, else the usual names.
    ``specific``: the file is the image's own (a lone hash in it counts),
    not the folder's."""
    signatures = dict(LAYOUTS)
    if listing is None:
        return [(pattern.format(image=image),
                 tuple(s.format(image=image) for s in signatures[pattern]),
                 '{image}' in pattern) for pattern in BLIND]
    chosen = []
    for pattern, beside in LAYOUTS:
        for name in sorted(fnmatch.filter(listing, pattern.format(
                image=image))):
            names = [s.format(image=image) for s in beside]
            names += [name + ext for ext in SIGNATURE_SUFFIXES]
            chosen.append((name, tuple(n for n in dict.fromkeys(names)
                                       if n in listing),
                           '{image}' in pattern))
    return chosen


class _Budget:
    """At most ``MAX_REQUESTS`` small requests, within ``DEADLINE``
    seconds in all (a server that trickles its answers costs no more)."""

    def __init__(self, fetcher, credentials, limit=MAX_REQUESTS,
                 clock=time.monotonic):
        self.fetcher = fetcher
        self.credentials = credentials
        self.left = limit
        self.clock = clock
        self.ends = clock() + DEADLINE

    def get(self, url, size_limit):
        remaining = self.ends - self.clock()
        if self.left <= 0 or remaining <= 0:
            raise _Spent()
        self.left -= 1
        return self.fetcher.fetch_small(
            url, size_limit, credentials=self.credentials,
            resilience=fetch.Resilience(retries=1, deadline=remaining))


class _Spent(Exception):
    pass


def find(fetcher, image_url, credentials=None, image_name=None):
    """Look beside ``image_url`` for a published checksum of its file
    (``image_name``, by default the URL's file name); a ``Published``.
    Credentials go only to the image's own server (``fetch`` sees to
    that on redirects)."""
    folder = folder_of(image_url)
    image = image_name or fetch.file_name(image_url)
    budget = _Budget(fetcher, credentials)
    try:
        # A page that links to no file (a home page the folder redirects
        # to) is no listing: the usual names are tried.
        listing = listed_names(budget.get(folder, LISTING_LIMIT)) or None
    except ImportFailure:
        listing = None
    tried, skipped = [], []
    try:
        for name, signatures, specific in candidates(image, listing):
            url = urllib.parse.urljoin(folder, urllib.parse.quote(name))
            tried.append(name)
            try:
                text = budget.get(url, CHECKSUM_FILE_LIMIT)
                expected = checksum.parse_checksum_file(
                    text.decode('utf-8', 'replace'), image,
                    nameless=specific)
            except ImportFailure as exc:
                if exc.code not in ('http_status', 'checksum_not_listed',
                                    'checksum_file_invalid'):
                    skipped.append((name, exc))
                continue
            signature_url, signature = _signature(budget, folder, signatures,
                                                  listing is not None)
            return Published(
                checksum_url=url, expected=expected, text=text,
                specific=specific,
                clearsigned=CLEARSIGNED in text,
                signature_url=signature_url, signature=signature,
                tried=tuple(tried), skipped=tuple(skipped))
    except _Spent:
        pass
    return Published(tried=tuple(tried), skipped=tuple(skipped))


def signature_beside(fetcher, checksum_url, credentials=None):
    """The detached signature of a checksum file the user named, if the
    server has one beside it under a usual name: ``(url, bytes)``, or
    ``('', b'')``."""
    name = fetch.file_name(checksum_url)
    budget = _Budget(fetcher, credentials, limit=len(SIGNATURE_SUFFIXES))
    return _signature(budget, folder_of(checksum_url),
                      [name + ext for ext in SIGNATURE_SUFFIXES], True)


def _signature(budget, folder, names, listed):
    """The first detached signature of ``names`` the server gives:
    ``(url, bytes)``, or ``('', b'')``."""
    for name in names:
        url = urllib.parse.urljoin(folder, urllib.parse.quote(name))
        try:
            return url, budget.get(url, SIGNATURE_LIMIT)
        except (ImportFailure, _Spent):
            if not listed:
                # Unlisted names cost a request each: one try is enough.
                return '', b''
    return '', b''
