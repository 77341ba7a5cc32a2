"""Import VM images into Glance from a URL, from the OpenStack dashboard."""

from importlib import metadata

DISTRIBUTION = 'horizon-image-importer'

try:
    # pbr numbers releases from git tags: X.Y.Z on a tag, X.Y.Z.devN for
    # the Nth commit after the last release (see docs/operations.md).
    __version__ = metadata.version(DISTRIBUTION)
except metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = 'unknown'
