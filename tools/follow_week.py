"""A week of daily looks at followed sources, simulated on a local mirror:
what each look asked the server and what it found.

    python tools/follow_week.py

Three sources on one mirror (a latest-build URL, a folder with a name
pattern, a checksum file with a pattern); new builds appear on days 3
and 6. Each look is ``engine.follow.look``, as the worker makes it; the
table lists the requests the server saw for each.
"""

import hashlib
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from image_importer.engine import fetch  # noqa: E402
from image_importer.engine import follow  # noqa: E402
from tools.fileserver import FileServer  # noqa: E402

NEW_BUILDS = (1, 3, 6)


def publish(root, day):
    """Day ``day``'s build in each layout, a day later in mtime."""
    when = time.time() + day * 86400
    current = os.path.join(root, 'noble', 'current', 'noble-amd64.img')
    with open(current, 'wb') as f:
        f.write(b'build of day %d' % day)
    os.utime(current, (when, when))
    name = 'debian-12-generic-amd64-202612%02d.qcow2' % day
    with open(os.path.join(root, 'debian', name), 'wb') as f:
        f.write(b'x')
    sums = os.path.join(root, 'fedora', 'CHECKSUM')
    with open(sums, 'w') as f:
        f.write('SHA256 (Fedora-Cloud-41-%d.qcow2) = %s\n' % (
            day, hashlib.sha256(b'%d' % day).hexdigest()))
    os.utime(sums, (when, when))


def main():
    with tempfile.TemporaryDirectory() as root:
        for folder in ('noble/current', 'debian', 'fedora'):
            os.makedirs(os.path.join(root, folder))
        with FileServer(root, listing=True) as server:
            fetcher = fetch.Fetcher(fetch.UrlPolicy(
                allow=('127.0.0.1:%d' % server.port,)))
            sources = {
                'latest URL': follow.Source(
                    server.url('noble/current/noble-amd64.img')),
                'folder': follow.Source(server.url('debian/'), follow.FOLDER,
                                        'debian-12-generic-amd64-*.qcow2'),
                'checksum file': follow.Source(
                    server.url('fedora/CHECKSUM'), follow.CHECKSUMS,
                    'Fedora-Cloud-41-*.qcow2'),
            }
            seen = {name: ('', '') for name in sources}
            print('| day | source | requests | found |')
            print('| --- | --- | --- | --- |')
            for day in range(1, 8):
                if day in NEW_BUILDS:
                    publish(root, day)
                for name, source in sources.items():
                    asked = len(server.requests)
                    found = follow.look(fetcher, source, *seen[name])
                    if found.changed:
                        seen[name] = (found.validator,
                                      found.release.identity)
                        said = 'new build: %s' % found.release.file_name
                    else:
                        seen[name] = (found.validator, seen[name][1])
                        said = 'unchanged'
                    requests = ', '.join(
                        '%s %s' % (method, path) for method, path, _r
                        in server.requests[asked:])
                    print('| %d | %s | %s | %s |' % (day, name, requests,
                                                     said))


if __name__ == '__main__':
    main()
