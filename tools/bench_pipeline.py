"""Throughput of the import pipeline's stages on this machine.

Run from the Horizon virtualenv (``tools/test`` makes it)::

    ~/.cache/horizon-image-importer/venv-horizon/bin/python \
        tools/bench_pipeline.py [--size-mib 2048] [--runs 3]

Makes (once, cached) a disk image whose first half is random and second
half zeros, as qcow2 and as raw.xz, serves them from a loopback HTTP
server and times, with the pipeline's own code:

- download + sha256 + format inspection of the qcow2 to the work file;
- the same for raw.xz (decompression streamed on the way);
- ``qemu-img convert`` qcow2 -> raw under the pipeline's process limits.

Prints a table (medians) and one JSON line.
"""

import argparse
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from image_importer.engine import disk  # noqa: E402
from image_importer.engine import fetch  # noqa: E402
from image_importer.engine import pipeline  # noqa: E402
from tools.fakeglance import FakeGlance  # noqa: E402
from tools.fileserver import FileServer  # noqa: E402
from tools import stack as stack_tool  # noqa: E402

MIB = 1024 * 1024


class NullReporter:
    def phase(self, name):
        pass

    def progress(self, done, total):
        pass

    def image_created(self, image_id):
        pass

    def route(self, name, source_format):
        pass

    def provenance(self, origin):
        pass


def make_images(directory, size):
    directory.mkdir(parents=True, exist_ok=True)
    raw = directory / 'bench.raw'
    if not raw.exists() or raw.stat().st_size != size:
        with open(raw, 'wb') as out:
            for _ in range(size // 2 // MIB):
                out.write(os.urandom(MIB))
            out.truncate(size)
        for old in ('bench.qcow2', 'bench.raw.xz'):
            (directory / old).unlink(missing_ok=True)
    if not (directory / 'bench.qcow2').exists():
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2',
                        str(raw), str(directory / 'bench.qcow2')], check=True)
    if not (directory / 'bench.raw.xz').exists():
        subprocess.run(['xz', '-k', '-1', '-T2', str(raw)], check=True)


def timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def bench(size_mib, runs):
    images = stack_tool.cache_dir() / 'bench'
    size = size_mib * MIB
    make_images(images, size)
    results = {}
    with FileServer(images) as server, \
            tempfile.TemporaryDirectory(prefix='hii-bench-') as work:
        policy = fetch.UrlPolicy(allow=('127.0.0.1:%d' % server.port,))

        def receive(name):
            request = pipeline.ImportRequest(
                url=server.url(name), fetcher=fetch.Fetcher(policy),
                glance_client=FakeGlance(), image_meta=None)
            pipeline.receive(request, work, NullReporter(), ['sha256'])

        qcow2_size = (images / 'bench.qcow2').stat().st_size
        xz_size = (images / 'bench.raw.xz').stat().st_size
        cases = {
            'download+sha256+inspect qcow2': (
                lambda: receive('bench.qcow2'), qcow2_size),
            'download+sha256+unxz+inspect raw.xz': (
                lambda: receive('bench.raw.xz'), size),
        }
        for label, (func, nbytes) in cases.items():
            times = [timed(func) for _ in range(runs)]
            results[label] = (statistics.median(times), nbytes)
        source = os.path.join(work, 'source')
        receive('bench.qcow2')
        info = disk.inspect(source)
        out = os.path.join(work, 'converted')

        def convert():
            disk.convert(source, info, out, 'raw', lambda d, t: None)
            os.unlink(out)
        times = [timed(convert) for _ in range(runs)]
        results['qemu-img convert qcow2 -> raw'] = (
            statistics.median(times), size)
    return results, {'qcow2': qcow2_size, 'raw.xz': xz_size, 'raw': size}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size-mib', type=int, default=2048,
                        help='virtual size of the test image (MiB)')
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args(argv)
    results, sizes = bench(args.size_mib, args.runs)
    print('image: %d MiB virtual; qcow2 %d MiB, raw.xz %d MiB; median of %d'
          % (args.size_mib, sizes['qcow2'] // MIB, sizes['raw.xz'] // MIB,
             args.runs))
    print('%-40s %9s %12s' % ('stage', 'seconds', 'MiB/s'))
    summary = {}
    for label, (seconds, nbytes) in results.items():
        rate = nbytes / MIB / seconds
        print('%-40s %9.2f %12.0f' % (label, seconds, rate))
        summary[label] = {'seconds': round(seconds, 3),
                          'mib_per_s': round(rate)}
    print(json.dumps({'bench': 'pipeline', 'size_mib': args.size_mib,
                      'runs': args.runs, 'results': summary}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
