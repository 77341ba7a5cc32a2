"""Where an image's checksum comes from, and who vouches for it.

``establish`` decides, before the download, what the image will be
checked against: the checksum the user typed, the checksum file they
named, or the one the publisher put beside the image (``published``);
and verifies the signature on a checksum file (``signature``) against
the keys the operator trusts. A bad signature, or none where the
operator requires one, fails the import here, before a byte of the image
is read.
"""

import dataclasses
import urllib.parse

from image_importer.engine import checksum
from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer.engine import published
from image_importer.engine import signature

# Where the checksum came from.
FROM_USER = 'user'                  # typed into the form
FROM_FILE = 'checksum_file'         # a checksum file the user named
FOUND = 'found'                     # found beside the image
NONE = ''                           # nothing to check against
NOT_SOUGHT = 'not_sought'           # none given, and none looked for


@dataclasses.dataclass(frozen=True)
class Provenance:
    """What the import checks the image against, and why it trusts it.

    ``verification`` is ``signature``'s outcome for a checksum file
    (``signed``, ``unsigned``, ``unknown_key``, ``expired_key``), '' for
    a typed checksum or none; ``looked_for``: the names tried when
    nothing was found."""

    expected: checksum.Expected | None = None
    checksum_from: str = NONE
    checksum_url: str = ''
    verification: str = ''
    fingerprint: str = ''
    signer: str = ''
    looked_for: tuple = ()

    def as_dict(self):
        """For the job's record (JSON)."""
        return {
            'checksum_from': self.checksum_from,
            'checksum_url': self.checksum_url,
            'algorithm': self.expected.algorithm if self.expected else '',
            'expected': self.expected.hexdigest if self.expected else '',
            'verification': self.verification,
            'fingerprint': self.fingerprint,
            'signer': self.signer,
            'looked_for': list(self.looked_for),
        }


# The Glance image properties that say where an image came from; the
# prefix keeps them apart from Glance's (os_glance_*) and Nova's (hw_,
# img_, os_) names.
PREFIX = 'image_importer_'
PROPERTY_NAMES = ('source_url', 'fetched_at', 'source_checksum',
                  'checksum_from', 'checksum_file', 'verification',
                  'signing_key', 'signer', 'source_format', 'compression',
                  'archive_member', 'conversion')


def public_url(url):
    """``url`` as it may be shown and recorded: no user:password, no query
    or fragment (a signed URL's secret is its query)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ''
    if ':' in host:
        host = '[%s]' % host
    if parts.port is not None:
        host = '%s:%d' % (host, parts.port)
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, '', ''))


def properties(origin, url, fetched_at, source_format, target,
               compression=None, member=None):
    """The image's provenance as Glance properties (``PREFIX`` + each of
    ``PROPERTY_NAMES``; an empty fact is left out)."""
    expected = origin.expected
    facts = {
        'source_url': public_url(url),
        'fetched_at': fetched_at,
        'source_checksum': ('%s:%s' % (expected.algorithm,
                                       expected.hexdigest)
                            if expected else ''),
        'checksum_from': origin.checksum_from or 'none',
        'checksum_file': public_url(origin.checksum_url)
        if origin.checksum_url else '',
        'verification': origin.verification or (
            'checksum' if expected else 'none'),
        'signing_key': origin.fingerprint,
        'signer': origin.signer[:255],
        'source_format': source_format or '',
        'compression': compression or '',
        'archive_member': (member or '')[:255],
        'conversion': ('%s to %s' % (source_format, target)
                       if source_format and target != source_format
                       else 'none'),
    }
    return {PREFIX + name: value for name, value in facts.items() if value}


@dataclasses.dataclass(frozen=True)
class Policy:
    """What the operator asks of checksums: look for published ones
    (``find``), trust the keys in ``trusted_keys`` (a folder), and
    require a valid signature (``require_signature``, decided per host by
    the caller)."""

    find: bool = True       # the operator's, and the user's, choice
    trusted_keys: str | None = None
    require_signature: bool = False


def establish(fetcher, url, credentials, expected_checksum=None,
              checksum_url=None, policy=Policy()):
    """The ``Provenance`` of the import of ``url``; ``ImportFailure`` for
    a bad signature, or an unsigned checksum where one is required."""
    if expected_checksum:
        found = Provenance(checksum.parse_expected(expected_checksum),
                           FROM_USER)
    elif checksum_url:
        found = _named_file(fetcher, url, credentials, checksum_url, policy)
    elif policy.find:
        found = _found(fetcher, url, credentials, policy)
    else:
        found = Provenance(checksum_from=NOT_SOUGHT)
    if policy.require_signature and found.verification != signature.SIGNED:
        raise ImportFailure('signature_required', host=_host(url),
                            outcome=found.verification or 'none')
    return found


def _host(url):
    return urllib.parse.urlsplit(url).hostname or ''


def _named_file(fetcher, url, credentials, checksum_url, policy):
    # The source's credentials go only to the source's own server.
    same = fetcher.policy.target(url) == fetcher.policy.target(checksum_url)
    text = fetcher.fetch_small(checksum_url, published.CHECKSUM_FILE_LIMIT,
                               credentials=credentials if same else None)
    image = fetch.file_name(url)
    expected = checksum.parse_checksum_file(text.decode('utf-8', 'replace'),
                                            image)
    sig_url, sig = published.signature_beside(
        fetcher, checksum_url, credentials if same else None)
    return _signed(Provenance(expected, FROM_FILE, checksum_url), text,
                   sig_url, sig, image, True, policy)


def _found(fetcher, url, credentials, policy):
    found = published.find(fetcher, url, credentials)
    if found.expected is None:
        return Provenance(looked_for=found.tried)
    return _signed(Provenance(found.expected, FOUND, found.checksum_url),
                   found.text, found.signature_url, found.signature,
                   fetch.file_name(url), found.specific, policy)


def _signed(provenance, text, sig_url, sig, image, nameless, policy):
    """``provenance`` with the signature's verdict; the checksum read
    again from what the signature covers when it is good."""
    clearsigned = published.CLEARSIGNED in text
    if not sig and not clearsigned:
        return dataclasses.replace(provenance,
                                   verification=signature.UNSIGNED)
    verdict = signature.verify(text, sig, policy.trusted_keys)
    if verdict.outcome == signature.BAD:
        raise ImportFailure('signature_bad', file=fetch.file_name(
            provenance.checksum_url), signature=fetch.file_name(
                sig_url or provenance.checksum_url))
    expected = provenance.expected
    if verdict.trusted:
        # Only what the signature covers counts (a clearsigned file may
        # carry unsigned lines around its signed block).
        expected = checksum.parse_checksum_file(
            verdict.signed_text.decode('utf-8', 'replace'), image,
            nameless=nameless)
    return dataclasses.replace(
        provenance, expected=expected, verification=verdict.outcome,
        fingerprint=verdict.fingerprint, signer=verdict.signer)
