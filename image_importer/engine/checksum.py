"""Expected checksums, as typed by a user or listed in a checksum file.

``parse_expected`` reads what a user pastes (``HEX``, ``sha256:HEX``,
``{SHA256}HEX``); ``parse_checksum_file`` picks the image's line out of a
published checksum file (GNU ``sha256sum`` or BSD ``--tag`` lines, as in
Ubuntu's SHA256SUMS or Fedora's signed CHECKSUM). ``Hasher`` computes the
digests while the image downloads and ``verify`` compares them.
"""

import dataclasses
import hashlib
import re
import urllib.parse

from image_importer.engine.errors import ImportFailure

ALGORITHMS = ('md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512')
HEX_LENGTHS = {'md5': 32, 'sha1': 40, 'sha224': 56, 'sha256': 64,
               'sha384': 96, 'sha512': 128}
BY_LENGTH = {length: name for name, length in HEX_LENGTHS.items()}
# Too weak to protect against tampering, but still fine to catch a damaged
# download; saying so keeps them usable on FIPS-enabled hosts.
WEAK = ('md5', 'sha1')
MAX_SHOWN = 200

_TAG = r'[A-Za-z][A-Za-z0-9_-]*'
_EXPECTED = re.compile(r'(?:\{(?P<braced>%s)\}\s*|(?P<prefix>%s):\s*)?'
                       r'(?P<hex>[0-9A-Fa-f]+)' % (_TAG, _TAG))
_GNU_LINE = re.compile(r'(?P<hex>[0-9A-Fa-f]+)(?:\s+\*?(?P<name>.+))?')
_BSD_LINE = re.compile(r'(?P<tag>%s) ?\((?P<name>.+)\) ?= ?'
                       r'(?P<hex>[0-9A-Fa-f]+)' % _TAG)
_SIGNATURE_START = '-----BEGIN PGP SIGNATURE-----'
_SIGNATURE_END = '-----END PGP SIGNATURE-----'


@dataclasses.dataclass(frozen=True)
class Expected:
    """The digest an image must have."""

    algorithm: str
    hexdigest: str          # lower case


def _algorithm_name(tag):
    """Map ``SHA256``, ``sha-256`` or ``SHA2-256`` to a name, else None."""
    name = tag.lower().replace('-', '').replace('_', '')
    if name.startswith('sha2') and len(name) == 7:
        name = 'sha' + name[4:]
    return name if name in HEX_LENGTHS else None


def _wanted(algorithm):
    """Check the caller's ``algorithm`` argument; return its name or None."""
    if algorithm is None:
        return None
    name = _algorithm_name(algorithm)
    if name is None:
        raise ValueError('unknown checksum algorithm %r' % algorithm)
    return name


def _identify(hexdigest, algorithm):
    """The algorithm of ``hexdigest`` (by its length), or None."""
    if algorithm is None:
        return BY_LENGTH.get(len(hexdigest))
    return algorithm if len(hexdigest) == HEX_LENGTHS[algorithm] else None


def _read_expected(value, wanted):
    match = _EXPECTED.fullmatch(value)
    if match is None:
        return None
    tag = match['braced'] or match['prefix']
    if tag:
        named = _algorithm_name(tag)
        if named is None or wanted not in (None, named):
            return None
    else:
        named = wanted
    found = _identify(match['hex'], named)
    return found and Expected(found, match['hex'].lower())


def parse_expected(text, algorithm=None):
    """Read a checksum typed by a user; return an ``Expected``."""
    value = text.strip()
    expected = _read_expected(value, _wanted(algorithm))
    if expected is None:
        raise ImportFailure('checksum_invalid', value=value[:MAX_SHOWN])
    return expected


def _entries(text):
    """Yield ``(algorithm, hexdigest, name or None)`` for each usable line."""
    in_signature = False
    for line in text.lstrip('\ufeff').splitlines():
        line = line.strip()
        if in_signature:
            in_signature = line != _SIGNATURE_END
            continue
        if line == _SIGNATURE_START:
            in_signature = True
            continue
        match = _BSD_LINE.fullmatch(line)
        if match:
            named = _algorithm_name(match['tag'])
            algorithm = named and _identify(match['hex'], named)
        else:
            match = _GNU_LINE.fullmatch(line)
            algorithm = match and _identify(match['hex'], None)
        if not algorithm:
            continue
        name = match['name']
        if name is not None:
            name = name.rsplit('/', 1)[-1]
        yield algorithm, match['hex'].lower(), (None if name == '-' else name)


def listed(text):
    """Every named file of a checksum file: ``{name: Expected}``, the
    strongest algorithm where a file has several lines."""
    found = {}
    for algorithm, hexdigest, name in _entries(text):
        known = found.get(name)
        if name and (known is None or ALGORITHMS.index(algorithm) >
                     ALGORITHMS.index(known.algorithm)):
            found[name] = Expected(algorithm, hexdigest)
    return found


def parse_checksum_file(text, filename, algorithm=None, nameless=True):
    """Pick ``filename``'s checksum out of a checksum file's text.

    A line without a name (a lone hash, or ``-`` for standard input) counts
    for any file, unless ``nameless`` is False (a file found beside the
    image that is not its own). When several lines fit, the strongest
    algorithm wins.
    """
    wanted = _wanted(algorithm)
    entries = list(_entries(text))
    if not entries:
        raise ImportFailure('checksum_file_invalid')
    base = filename.rsplit('/', 1)[-1]
    names = {base, urllib.parse.unquote(base)} | ({None} if nameless
                                                  else set())
    fitting = [Expected(a, h) for a, h, name in entries
               if name in names and wanted in (None, a)]
    if not fitting:
        raise ImportFailure('checksum_not_listed', filename=base)
    return max(fitting, key=lambda e: ALGORITHMS.index(e.algorithm))


class Hasher:
    """Computes one or more digests of a stream in one pass."""

    def __init__(self, algorithms):
        self._hashes = {
            name: hashlib.new(name, usedforsecurity=name not in WEAK)
            for name in algorithms}
        self._updates = tuple(h.update for h in self._hashes.values())

    def update(self, chunk):
        for update in self._updates:
            update(chunk)

    def hexdigests(self):
        """Return ``{algorithm: hexdigest}`` of everything seen so far."""
        return {name: h.hexdigest() for name, h in self._hashes.items()}


def verify(expected, hexdigests):
    """Raise unless ``hexdigests`` holds ``expected``'s digest."""
    actual = hexdigests[expected.algorithm]
    if actual != expected.hexdigest:
        raise ImportFailure('checksum_mismatch',
                            algorithm=expected.algorithm,
                            expected=expected.hexdigest, actual=actual)
