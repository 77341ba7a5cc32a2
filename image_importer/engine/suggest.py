"""Guess Glance metadata from a cloud image's file name and size.

The guesses are offered in the form, never forced: ``architecture``,
``os_distro`` (libosinfo short-id family names, as Glance documents them),
``os_version`` and ``min_disk``.
"""

import re

GIB = 1 << 30
SUFFIXES = ('.xz', '.gz', '.bz2', '.zst', '.img', '.qcow2', '.raw', '.iso',
            '.vmdk', '.vhd', '.vhdx', '.ova', '.tar')
# A token starts and ends where a letter or digit does not continue it.
_START = r'(?<![a-z0-9])'
_END = r'(?![a-z0-9])'

ARCHITECTURES = (
    (r'x86[-_]64|amd64|x64', 'x86_64'),
    (r'aarch64|arm64', 'aarch64'),
    (r's390x', 's390x'),
    (r'ppc64le|ppc64el', 'ppc64le'),
    (r'riscv64', 'riscv64'),
    (r'i[36]86', 'i686'),
    (r'armhf|armv7h?l', 'armv7l'),
)
_ARCH_RE = [(re.compile(_START + '(?:%s)' % pattern + _END), arch)
            for pattern, arch in ARCHITECTURES]

# (os_distro, name pattern, version pattern or None); the first name found
# decides. Words may stand between the name and the version
# ("Fedora-Cloud-Base-Generic-41"); version patterns are tight enough that
# a build date ("debian-sid-...-daily-20241217") is not taken for one.
DISTROS = (
    ('ubuntu', r'ubuntu', r'\d\d\.\d\d'),
    ('debian', r'debian', r'\d{1,2}'),
    ('fedora', r'fedora', r'\d{1,3}'),
    ('centos', r'centos', r'\d{1,2}'),
    ('rhel', r'rhel', r'\d{1,2}(?:\.\d+)?'),
    ('rocky', r'rocky(?:linux)?', r'\d{1,2}(?:\.\d+)?'),
    ('almalinux', r'alma(?:linux)?', r'\d{1,2}(?:\.\d+)?'),
    ('opensuse', r'opensuse[-_]?leap', r'\d{1,2}\.\d+'),
    ('opensuse', r'opensuse', None),
    ('sles', r'sles', r'\d{1,2}(?:[-_]?sp\d+)?'),
    ('arch', r'arch[-_]?linux', None),
    ('freebsd', r'freebsd', r'\d{1,2}\.\d+'),
    ('cirros', r'cirros', r'\d+(?:\.\d+)+'),
    ('alpine', r'alpine', r'\d+(?:\.\d+)+'),
    ('windows', r'win(?:dows)?(?:[-_]?server)?', r'\d{1,4}'),
)
_WORDS = r'(?:[-_. ]+[a-z][a-z0-9]*)*[-_. ]*'
_DISTRO_RE = [
    (distro, re.compile(_START + '(?:%s)(?![a-z])' % name),
     version and re.compile(_START + '(?:%s)%s(%s)%s' % (
         name, _WORDS, version, _END)))
    for distro, name, version in DISTROS]

CODENAMES = {
    'xenial': ('ubuntu', '16.04'), 'bionic': ('ubuntu', '18.04'),
    'focal': ('ubuntu', '20.04'), 'jammy': ('ubuntu', '22.04'),
    'noble': ('ubuntu', '24.04'), 'oracular': ('ubuntu', '24.10'),
    'plucky': ('ubuntu', '25.04'), 'questing': ('ubuntu', '25.10'),
    'buster': ('debian', '10'), 'bullseye': ('debian', '11'),
    'bookworm': ('debian', '12'), 'trixie': ('debian', '13'),
}
_CODENAME_RE = re.compile(_START + '(%s)' % '|'.join(CODENAMES) + _END)
# SLES "15-SP6" is version 15.6; no other version pattern holds letters.
_SERVICE_PACK = re.compile(r'[-_]?sp')


def _stem(filename):
    """Lower-case base name without compression or disk-format suffixes."""
    stem = filename.rsplit('/', 1)[-1].lower()
    while stem.endswith(SUFFIXES):
        stem = stem.rsplit('.', 1)[0]
    return stem


def _architecture(stem):
    found = {arch for regex, arch in _ARCH_RE if regex.search(stem)}
    return found.pop() if len(found) == 1 else None


def _os(stem):
    """Return ``(os_distro, os_version)``; either may be None."""
    for regex, _arch in _ARCH_RE:
        stem = regex.sub('-', stem)
    codename = _CODENAME_RE.search(stem)
    known = CODENAMES[codename[1]] if codename else (None, None)
    for distro, name_re, version_re in _DISTRO_RE:
        if not name_re.search(stem):
            continue
        version = version_re and version_re.search(stem)
        if version:
            return distro, _SERVICE_PACK.sub('.', version[1])
        return distro, known[1] if known[0] == distro else None
    return known


def suggest(filename, virtual_size=None):
    """Offer ``architecture``/``os_distro``/``os_version``/``min_disk``.

    Only the keys that could be guessed are returned.
    """
    stem = _stem(filename)
    found = {}
    architecture = _architecture(stem)
    if architecture:
        found['architecture'] = architecture
    distro, version = _os(stem)
    if distro:
        found['os_distro'] = distro
    if version:
        found['os_version'] = version
    if virtual_size is not None:
        found['min_disk'] = -(-virtual_size // GIB)
    return found
