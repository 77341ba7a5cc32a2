"""End-to-end import benchmark on the real local stack.

Run from the Horizon virtualenv (``tools/test`` makes it), or ``tox -e
bench``::

    ~/.cache/horizon-image-importer/venv-horizon/bin/python tools/bench.py \
        [--size 2G] [--runs 3] [--rss-size 8G] [--broker URL] [--cache DIR]

Starts its own Keystone + Glance (free ports, a temp state dir; Glance's
web-download allowed to reach the loopback file server), an import worker
(``tools.dashboard.Dashboard``; the embedded broker unless ``--broker``)
and a file server over a generated disk image (first half random, second
half zeros; as qcow2, raw and raw.xz, made once per size under
``--cache``). After a few tiny warm-up uploads, ``--runs`` rounds, each
measuring side by side:

- this importer, submit to active (the job row's ``created_at`` to
  ``finished_at``): qcow2 kept, qcow2 -> raw, raw.xz -> raw; with the
  worker's peak RSS, the work dir's peak disk use, the job's phases and
  the time spent writing the job row (progress, phases, lease);
- the same outcome by hand: ``curl``, then ``qemu-img convert`` (or
  ``xz -d``) where the outcome is raw, then ``openstack image create
  --file``;
- Glance's web-download import of the qcow2 URL and of the raw URL (Glance
  neither converts nor decompresses);
- Glance's own ingestion, the floor: create the image and PUT the final
  bytes from a local file, chunked in 64 KiB pieces as the importer sends
  (``--floor-piece``; Glance takes 1 MiB chunks far slower).

With ``--rss-size``, the importer also imports a bigger image once, to
compare the worker's peak RSS. Every image is checked (active, size, disk
format, Glance's hash equal to the expected bytes') and deleted. Prints a
markdown table of medians and ratios, the speed targets as MET or
MISSED, and one JSON line. The exit status is 1 if any measurement failed
(not for a missed target); the state dir (logs) is then kept.

``tools/bench_pipeline.py`` times the pipeline's stages alone (no Glance).
"""

import argparse
import datetime
import hashlib
import http.client
import json
import lzma
import os
from pathlib import Path
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import zlib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import bench_probes  # noqa: E402
from tools import dashboard as dashboard_tool  # noqa: E402
from tools.fileserver import FileServer  # noqa: E402
from tools import images  # noqa: E402
from tools import stack as stack_tool  # noqa: E402
from tools import webclient  # noqa: E402

MIB = 1024 * 1024
GIB = 1024 * MIB
CHUNK = MIB
# The floor PUT's HTTP chunk: the importer's own piece (Glance takes 1 MiB
# chunks far slower, see image_importer.engine.glance.UPLOAD_PIECE), so
# the floor stays Glance's fastest ingestion; --floor-piece to vary it.
FLOOR_PIECE = 64 * 1024
SAMPLE_INTERVAL = 0.05
# The work folder's disk use is read at every sample, the worker's
# process group (found by reading every process's stat file in /proc) and
# its RSS at every RSS_EVERY-th only: all of it every 50 ms took the
# importer's runs, and not the floor's, about 4% of their time on a 2-core
# host.
RSS_EVERY = 5
# The image each case imports once before the measured rounds.
WARM_UP_SIZE = 4 * MIB
NAME_PREFIX = 'hii-bench-'

# Outcome cases: (label, source file, importer's disk_format, final format)
CASES = {
    'qcow2': ('qcow2 kept', 'bench.qcow2', '', 'qcow2'),
    'qcow2-raw': ('qcow2 -> raw', 'bench.qcow2', 'raw', 'raw'),
    'xz-raw': ('raw.xz -> raw', 'bench.raw.xz', 'raw', 'raw'),
}
# The by-hand step turning the download into the final file.
BY_HAND_STEP = {'qcow2': None, 'qcow2-raw': 'qemu-img convert',
                'xz-raw': 'xz -d'}
# Glance cannot convert or decompress: web-download and the floor exist
# for the two final files; each case compares with the one it ends as.
FINAL_FILE = {'qcow2': 'bench.qcow2', 'raw': 'bench.raw'}


def probe_command(instance, *args):
    """A ``tools.bench_probes`` command in ``instance``'s Python (to run
    with its environment, from this checkout)."""
    return [instance.python, '-m', 'tools.bench_probes', *args]


class BenchError(Exception):
    """A measurement failed (not a missed target)."""


# ---------------------------------------------------------------- helpers


def log(message):
    print('bench: ' + message, file=sys.stderr, flush=True)


def _bytes(text):
    """'2G', '64K', '512MiB' or a number of bytes -> bytes; None if it is
    none of these."""
    units = {'': 1, 'K': 1024, 'M': MIB, 'G': GIB, 'T': 1024 * GIB}
    value = text.strip().upper().removesuffix('B').removesuffix('I')
    unit = value[-1:] if value[-1:] in units else ''
    try:
        return int(float(value[:-1] if unit else value) * units[unit])
    except ValueError:
        return None


def parse_size(text):
    """An image size for --size: a positive whole number of 2 MiB."""
    size = _bytes(text)
    if size is None:
        raise argparse.ArgumentTypeError(
            '%r is not a size; write e.g. 2G or 64M' % text)
    if size < 2 * MIB or size % (2 * MIB):
        raise argparse.ArgumentTypeError(
            '%r: the size must be a positive multiple of 2 MiB' % text)
    return size


def _positive_bytes(text, wrong):
    value = _bytes(text)
    if not value or value <= 0:
        raise argparse.ArgumentTypeError(wrong % text)
    return value


def parse_piece(text):
    """A chunk size for --floor-piece: '64K', '1M' or bytes."""
    return _positive_bytes(text,
                           '%r is not a chunk size; write e.g. 64K or 1M')


def parse_rate(text):
    """A download rate for --source-rate: '100M' (bytes per second)."""
    return _positive_bytes(
        text, '%r is not a rate; write e.g. 100M (bytes per second)')


def size_label(size):
    if size % GIB == 0:
        return '%d GiB' % (size // GIB)
    return '%d MiB' % (size // MIB)


def median(values):
    return statistics.median(values) if values else None


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def allocated(path):
    """Bytes allocated on disk under ``path`` (sparse files count as
    written)."""
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_blocks
            except FileNotFoundError:
                pass
    return total * 512


def parse_time(value):
    """A job-row time (SQLite text, naive UTC, or ISO with an offset)."""
    when = datetime.datetime.fromisoformat(str(value).replace('Z', '+00:00'))
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when


def wait_worker_ready(instance, timeout=120):
    """Wait until the Dashboard ``instance``'s Celery worker said ready."""
    path = instance.state / 'logs' / 'worker.log'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if instance.procs['worker'].poll() is not None:
            raise BenchError('the worker exited; see %s' % path)
        if path.exists() and b' ready.' in path.read_bytes():
            return
        time.sleep(0.2)
    raise BenchError('the worker was not ready after %d s; see %s'
                     % (timeout, path))


# ---------------------------------------------------------------- images


def make_sources(directory, size):
    """The bench image as raw (sparse second half), qcow2 and raw.xz, made
    once per size; returns {file name: {'size', 'sha512'}}."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = directory / 'manifest.json'
    try:
        return json.loads(manifest.read_text())
    except (FileNotFoundError, ValueError):
        pass
    log('making the %s test image in %s (once)'
        % (size_label(size), directory))
    raw = directory / 'bench.raw'
    with open(raw, 'wb') as out:
        for _ in range(size // 2 // MIB):
            out.write(os.urandom(MIB))
        out.truncate(size)
    qcow2 = directory / 'bench.qcow2'
    images.qemu_img('convert', '-f', 'raw', '-O', 'qcow2', str(raw),
                    str(qcow2))
    xz = directory / 'bench.raw.xz'
    write_xz(raw, xz, stored=size // 2)
    subprocess.run(['xz', '-t', str(xz)], check=True)
    found = {}
    for path in (raw, qcow2, xz):
        digest = hashlib.sha512()
        with open(path, 'rb') as data:
            while block := data.read(CHUNK):
                digest.update(block)
        found[path.name] = {'size': path.stat().st_size,
                            'sha512': digest.hexdigest()}
    manifest.write_text(json.dumps(found))
    return found


def _varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7f | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _crc32(data):
    return zlib.crc32(data).to_bytes(4, 'little')


def write_xz(source, target, stored):
    """Write ``source`` as a one-block .xz file whose first ``stored``
    bytes are LZMA2 uncompressed chunks and the rest LZMA2-compressed.

    This is what xz itself makes of random data (it falls back to
    uncompressed chunks), without spending minutes finding that out: LZMA
    over random bytes runs at a few MB/s here. ``xz -t`` checks the file.
    """
    dict_size, dict_byte = MIB, 16      # 2 << (16 // 2 + 11) == 1 MiB
    crc = 0
    written = 0
    with open(source, 'rb') as data, open(target, 'wb') as out:
        flags = b'\x00\x01'               # check: CRC32
        out.write(b'\xfd7zXZ\x00' + flags + _crc32(flags))
        # Size (12 // 4 - 1), flags, LZMA2 with its dictionary, padding.
        header = bytes([2, 0x00, 0x21, 0x01, dict_byte, 0, 0, 0])
        header += _crc32(header)
        out.write(header)
        control = 0x01                  # uncompressed, dictionary reset
        left = stored
        while left:
            chunk = data.read(min(64 * 1024, left))
            left -= len(chunk)
            crc = zlib.crc32(chunk, crc)
            out.write(bytes([control]) + (len(chunk) - 1).to_bytes(2, 'big'))
            out.write(chunk)
            written += 3 + len(chunk)
            control = 0x02              # uncompressed, no reset
        # liblzma's own chunks; the first resets the dictionary.
        encoder = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[
            {'id': lzma.FILTER_LZMA2, 'preset': 1, 'dict_size': dict_size}])
        while chunk := data.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
            packed = encoder.compress(chunk)
            out.write(packed)
            written += len(packed)
        packed = encoder.flush()        # ends with the end marker
        out.write(packed)
        written += len(packed)
        out.write(bytes(-(len(header) + written) % 4))
        out.write(crc.to_bytes(4, 'little'))
        unpadded = len(header) + written + 4
        index = b'\x00' + _varint(1) + _varint(unpadded) + _varint(
            os.path.getsize(source))
        index += bytes(-len(index) % 4)
        index += _crc32(index)
        out.write(index)
        backward = (len(index) // 4 - 1).to_bytes(4, 'little')
        out.write(_crc32(backward + flags) + backward + flags + b'YZ')


# ---------------------------------------------------------------- glance


class Glance:
    """The few Glance v2 calls the bench makes, as the demo user (or
    ``user``: the admin sees and deletes every project's images)."""

    def __init__(self, stack, user='demo'):
        self.stack = stack
        self.user = user
        self.url = stack.glance_url
        self.port = stack.glance_port
        self._token = None
        self._token_at = 0

    @property
    def token(self):
        # A token is kept 10 minutes (monotonic time starts near zero at
        # boot: a machine up for less than that still needs its first).
        if self._token is None or time.monotonic() - self._token_at > 600:
            self._token = self.stack.token(self.user)
            self._token_at = time.monotonic()
        return self._token

    def call(self, method, path, body=None, content_type=None, tries=1):
        """One call; a 5xx answer is tried again up to ``tries`` times."""
        for attempt in range(1, tries + 1):
            try:
                return self._call(method, path, body, content_type)
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300]
                if exc.code < 500 or attempt == tries:
                    raise BenchError('Glance %s %s: %s %s' % (
                        method, path, exc.code, detail))
                log('Glance %s %s answered %s; again' % (
                    method, path, exc.code))
                time.sleep(attempt)

    def _call(self, method, path, body, content_type):
        data = None
        headers = {'X-Auth-Token': self.token, 'Accept': 'application/json'}
        if body is not None:
            data = json.dumps(body).encode()
            headers['Content-Type'] = content_type or 'application/json'
        request = urllib.request.Request(self.url + path, data, headers,
                                         method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def create(self, name, disk_format):
        return self.call('POST', '/v2/images', {
            'name': name, 'disk_format': disk_format,
            'container_format': 'bare'})['id']

    def get(self, image_id):
        return self.call('GET', '/v2/images/%s' % image_id)

    def delete(self, image_id):
        try:
            self.call('DELETE', '/v2/images/%s' % image_id, tries=4)
        except BenchError as exc:
            if ' 404 ' not in str(exc):
                raise

    def wait_unlocked(self, image_id, timeout=60):
        """Until an import task has let go of the image: deleting it
        while the task still writes makes Glance on SQLite fail with
        "database is locked"."""
        deadline = time.monotonic() + timeout
        while 'os_glance_import_task' in self.get(image_id):
            if time.monotonic() > deadline:
                raise BenchError('the import task of image %s did not end '
                                 'in %d s' % (image_id, timeout))
            time.sleep(0.1)

    def put_file(self, image_id, path, piece=CHUNK):
        """PUT the file's bytes, chunked (a generator body, ``piece``
        bytes a chunk)."""
        def chunks():
            with open(path, 'rb') as data:
                while block := data.read(piece):
                    yield block

        conn = http.client.HTTPConnection('127.0.0.1', self.port,
                                          timeout=600)
        try:
            conn.request('PUT', '/v2/images/%s/file' % image_id, chunks(),
                         {'X-Auth-Token': self.token,
                          'Content-Type': 'application/octet-stream'})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 204:
            raise BenchError('Glance PUT of %s: %s %s' % (
                path, response.status, body[:300]))

    def web_download(self, image_id, url):
        self.call('POST', '/v2/images/%s/import' % image_id, {
            'method': {'name': 'web-download', 'uri': url}})

    def wait_active(self, image_id, timeout):
        deadline = time.monotonic() + timeout
        while True:
            image = self.get(image_id)
            if image['status'] == 'active':
                return image
            failed = image.get('os_glance_failed_import')
            if image['status'] in ('killed', 'deleted') or failed:
                raise BenchError('Glance image %s ended %s (failed import: '
                                 '%s)' % (image_id, image['status'], failed))
            if time.monotonic() > deadline:
                raise BenchError('Glance image %s still %s after %d s' % (
                    image_id, image['status'], timeout))
            time.sleep(0.1)

    def leftovers(self):
        images_ = self.call('GET', '/v2/images?limit=1000')['images']
        return [i['id'] for i in images_ if i['name'].startswith(NAME_PREFIX)]


# ---------------------------------------------------------------- sampling


def cpu_steal_seconds(stat_path='/proc/stat'):
    """CPU time the hypervisor gave this VM's CPUs to others so far (the
    ``steal`` column of /proc/stat, all CPUs), in seconds; 0 where the
    kernel does not count it."""
    try:
        with open(stat_path) as stat:
            fields = stat.readline().split()
    except OSError:
        return 0.0
    if len(fields) < 9 or fields[0] != 'cpu':
        return 0.0
    return int(fields[8]) / os.sysconf('SC_CLK_TCK')


def _pgid_members(pgid):
    members = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            stat = Path('/proc/%s/stat' % entry).read_text()
        except OSError:
            continue
        fields = stat.rsplit(')', 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != 'Z':
            members.append(int(entry))
    return members


def _status_kib(pid, key):
    try:
        for line in Path('/proc/%d/status' % pid).read_text().splitlines():
            if line.startswith(key + ':'):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _is_celery(pid):
    try:
        return b'celery' in Path('/proc/%d/cmdline' % pid).read_bytes()
    except OSError:
        return False


def _cpu_seconds(pid):
    """utime + stime + waited-for children's, in seconds."""
    counters = _counters(pid)
    return counters['user_s'] + counters['sys_s']


COUNTERS = ('user_s', 'sys_s', 'minor_faults', 'switches')


def _counters(pid):
    """A process's CPU (user, system: its own and its waited-for
    children's, in seconds), minor page faults (the same) and context
    switches (its own threads', voluntary and not)."""
    found = dict.fromkeys(COUNTERS, 0)
    try:
        fields = Path('/proc/%d/stat' % pid).read_text().rsplit(
            ')', 1)[1].split()
        tasks = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return found
    tick = os.sysconf('SC_CLK_TCK')
    found['user_s'] = (int(fields[11]) + int(fields[13])) / tick
    found['sys_s'] = (int(fields[12]) + int(fields[14])) / tick
    found['minor_faults'] = int(fields[7]) + int(fields[8])
    for task in tasks:
        try:
            status = Path('/proc/%d/task/%s/status' % (pid, task)).read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if 'ctxt_switches:' in line:
                found['switches'] += int(line.split()[1])
    return found


def _group_counters(pids):
    total = dict.fromkeys(COUNTERS, 0)
    for pid in pids:
        for key, value in _counters(pid).items():
            total[key] += value
    return total


def _counters_since(before, pids):
    after = _group_counters(pids)
    return {key: round(after[key] - before[key], 3) for key in COUNTERS}


class Sampler:
    """Polls, in a thread, a process group's RSS and a folder's disk use;
    their peaks over the ``with`` block."""

    def __init__(self, pgid=None, folder=None):
        self.pgid = pgid
        self.folder = folder
        self.rss_peak = 0          # largest single celery process, bytes
        self.helper_rss_peak = 0   # largest other process (qemu-img), bytes
        self.group_rss_peak = 0    # the whole group at once, bytes
        self.disk_peak = 0
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        if self.pgid is not None and not self._samples % RSS_EVERY:
            total = 0
            for pid in _pgid_members(self.pgid):
                rss = _status_kib(pid, 'VmRSS') * 1024
                total += rss
                if _is_celery(pid):
                    self.rss_peak = max(self.rss_peak, rss)
                else:
                    # A helper's own peak so far: one sample catches it.
                    self.helper_rss_peak = max(
                        self.helper_rss_peak,
                        _status_kib(pid, 'VmHWM') * 1024)
            self.group_rss_peak = max(self.group_rss_peak, total)
        if self.folder is not None:
            self.disk_peak = max(self.disk_peak, allocated(self.folder))
        self._samples += 1

    def _run(self):
        while not self._stop.wait(SAMPLE_INTERVAL):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


# ---------------------------------------------------------------- bench


class Bench:

    def __init__(self, size, runs, state, cache):
        self.size = size            # the image size being measured
        self.runs = runs
        self.state = Path(state)
        self.cache = Path(cache)    # served; one folder of images per size
        self.stack = None
        self.glance = None
        self.server = None
        self.instance = None
        self.submitter = None
        self.rss_size = None        # --rss-size
        self.broker = None          # the worker's BROKER_URL, if not embedded
        self.overlap = True         # OVERLAP_UPLOAD (--no-overlap)
        # OVERLAP_VERIFIED_UPLOAD (--overlap-verified): a checked image's
        # upload too runs during its download.
        self.overlap_verified = False
        # FIND_CHECKSUMS (--no-find-checksums): the search beside each
        # image for its publisher's checksum files.
        self.find_checksums = True
        self.floor_piece = FLOOR_PIECE  # --floor-piece
        self.checksum = None        # --checksum: the user's, for each job
        self.cases = list(CASES)    # --cases
        self.source_rate = None     # --source-rate: bytes/s, or None
        self.source_latency = 0.0   # --source-latency: seconds
        # --user-clock: also time each case as a user sees it, from the
        # Import Image form's submit until Glance says the image is active
        # (Horizon runs, and jobs are on a trust, as in the demo).
        self.user_clock = False
        self.web = None             # a logged-in webclient.Client
        self.sources = {}           # size -> make_sources()
        # measurement key -> list of run records
        self.records = {}
        self.failures = []

    # -- setup

    def prepare(self, size):
        self.sources[size] = make_sources(self.cache / str(size), size)

    def importer_settings(self):
        settings = {'OVERLAP_UPLOAD': self.overlap,
                    'OVERLAP_VERIFIED_UPLOAD': self.overlap_verified,
                    'FIND_CHECKSUMS': self.find_checksums}
        if self.broker:
            settings['BROKER_URL'] = self.broker
        if self.user_clock:
            settings['SERVICE_AUTH'] = self.stack.service_auth()
        return settings

    def start(self):
        self.server = FileServer(self.cache,
                                 rate=self.source_rate,
                                 latency=self.source_latency).__enter__()
        self.stack = stack_tool.Stack(
            self.state / 'stack', keystone_port=stack_tool.free_port(),
            glance_port=stack_tool.free_port(),
            glance_options={'import_filtering_opts': {
                'allowed_hosts': ['127.0.0.1'],
                'allowed_ports': [self.server.port]}})
        began = time.monotonic()
        self.stack.start()
        log('stack up in %.1f s' % (time.monotonic() - began))
        self.glance = Glance(self.stack)
        worker_state = self.state / 'dashboard'
        worker_state.mkdir(parents=True, exist_ok=True)
        self.instance = dashboard_tool.Dashboard(
            sys.prefix, worker_state, self.stack.keystone_url,
            port=stack_tool.free_port(),
            url_allowlist=['127.0.0.1:%d' % self.server.port],
            importer=self.importer_settings(),
            extra_settings=bench_probes.settings_hook('time_job_writes',
                                                      worker_state))
        self.instance.prepare()
        if self.user_clock:
            self.instance.start()       # Horizon and the worker
            self.web = webclient.Client(self.instance.url)
            self.web.login('demo', stack_tool.USERS['demo'][0],
                           webclient.INDEX)
        else:
            self.instance.start_worker()
        self.submitter = subprocess.Popen(
            probe_command(self.instance, 'submit'), env=self.instance.env(),
            cwd=str(ROOT),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._wait_worker_ready()
        log('worker ready in %.1f s' % (time.monotonic() - began))

    def stop(self):
        if self.submitter:
            self.submitter.stdin.close()
            try:
                self.submitter.wait(10)
            except subprocess.TimeoutExpired:
                self.submitter.kill()
                self.submitter.wait()
        if self.instance:
            self.instance.stop()
        if self.stack:
            self.stack.stop()
        if self.server:
            self.server.__exit__(None, None, None)

    def _wait_worker_ready(self, timeout=120):
        wait_worker_ready(self.instance, timeout)

    @property
    def worker_pgid(self):
        return self.instance.procs['worker'].pid

    @property
    def database(self):
        return str(self.instance.state / 'horizon.sqlite3')

    def timeout(self, nbytes):
        return 120 + nbytes / (5 * MIB)

    def files(self):
        """{file name: {'size', 'sha512'}} of the image being measured."""
        return self.sources[self.size]

    def source(self, name):
        return self.cache / str(self.size) / name

    def url(self, name):
        return self.server.url('%d/%s' % (self.size, name))

    def expect(self, final):
        """(size, sha512) an image of the ``final`` format must have."""
        found = self.files()[FINAL_FILE[final]]
        return found['size'], found['sha512']

    def check_image(self, image, final):
        size, sha512 = self.expect(final)
        problems = []
        if image['status'] != 'active':
            problems.append('status %s' % image['status'])
        if image['disk_format'] != final:
            problems.append('disk_format %s, not %s'
                            % (image['disk_format'], final))
        if image['size'] != size:
            problems.append('size %s, not %s' % (image['size'], size))
        if image.get('os_hash_algo') != 'sha512':
            problems.append('Glance hashed it with %r, not sha512: its bytes '
                            'cannot be checked' % image.get('os_hash_algo'))
        elif image.get('os_hash_value') != sha512:
            problems.append('its sha512 differs from the expected bytes')
        if problems:
            raise BenchError('image %s: %s' % (image['id'],
                                               '; '.join(problems)))
        return image['size']

    def _name(self, key, run):
        return '%s%s-%d' % (NAME_PREFIX, key.replace('/', '-'), run)

    # -- this importer

    def _job_writes(self):
        totals = {'seconds': 0.0, 'count': 0}
        for path in self.instance.state.glob('writes-*.json'):
            try:
                found = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            totals['seconds'] += found['seconds']
            totals['count'] += found['count']
        return totals

    def _job_row(self, job_id):
        with sqlite3.connect(self.database, timeout=20) as db:
            db.row_factory = sqlite3.Row
            return db.execute(
                'SELECT * FROM image_importer_importjob WHERE id = ?',
                (job_id,)).fetchone()

    def glance_pids(self):
        return _pgid_members(self.stack.info()['pids']['glance'])

    def glance_cpu(self):
        """CPU seconds Glance's processes have used so far."""
        return sum(_cpu_seconds(pid) for pid in self.glance_pids())

    def expected_checksum(self, source):
        """What the user enters as the source's checksum (--checksum)."""
        if not self.checksum:
            return ''
        digest = self.sources[self.size][source][self.checksum]
        return '%s:%s' % (self.checksum, digest)

    def importer(self, case, run):
        _label, source, disk_format, final = CASES[case]
        celery = [pid for pid in _pgid_members(self.worker_pgid)
                  if _is_celery(pid)]
        for pid in celery:
            try:  # reset VmHWM, so it holds this import's peak
                Path('/proc/%d/clear_refs' % pid).write_text('5')
            except OSError:
                pass
        cpu_before = sum(_cpu_seconds(pid) for pid in celery)
        glance_before = self.glance_cpu()
        glance_pids = self.glance_pids()
        counters_before = (_group_counters(glance_pids),
                           _group_counters(celery))
        writes_before = self._job_writes()
        work = Path(self.instance.importer['WORK_DIR'])
        work.mkdir(parents=True, exist_ok=True)
        args = {'project': self.stack.project_ids['demo'],
                'user': self.stack.user_ids['demo'],
                'token': self.glance.token, 'glance': self.stack.glance_url,
                'url': self.url(source), 'disk_format': disk_format,
                'expected_checksum': self.expected_checksum(source),
                'name': self._name('importer/' + case, run)}
        with Sampler(self.worker_pgid, work) as sampler:
            self.submitter.stdin.write(json.dumps(args) + '\n')
            self.submitter.stdin.flush()
            job_id = self.submitter.stdout.readline().strip()
            if not job_id:
                raise BenchError('the submitter gave no job id')
            deadline = time.monotonic() + self.timeout(self.size)
            while True:
                row = self._job_row(job_id)
                if row['state'] in ('active', 'failed', 'cancelled'):
                    break
                if time.monotonic() > deadline:
                    raise BenchError('job %s still %s' % (job_id,
                                                          row['state']))
                # The time is the row's own (created to finished): a
                # slower poll costs the measurement nothing.
                time.sleep(SAMPLE_INTERVAL * RSS_EVERY)
        hwm = max((_status_kib(pid, 'VmHWM') * 1024 for pid in celery),
                  default=0)
        cpu = sum(_cpu_seconds(pid) for pid in celery) - cpu_before
        glance_cpu = self.glance_cpu() - glance_before
        counters = {
            'glance': _counters_since(counters_before[0], glance_pids),
            'worker': _counters_since(counters_before[1], celery)}
        writes_after = self._job_writes()
        if row['state'] != 'active':
            if row['image_id']:
                self.glance.delete(row['image_id'])
            raise BenchError('job %s ended %s: %s %s' % (
                job_id, row['state'], row['error_code'],
                row['error_params']))
        image = self.glance.get(row['image_id'])
        self.glance.delete(row['image_id'])
        size = self.check_image(image, final)
        if row['checksum_verified'] != (self.checksum or ''):
            raise BenchError('job %s verified %r, not the given %s' % (
                job_id, row['checksum_verified'], self.checksum))
        created = parse_time(row['created_at'])
        finished = parse_time(row['finished_at'])
        seconds = (finished - created).total_seconds()
        phases = {}
        first_start = None
        for phase in json.loads(row['phases'] or '[]'):
            start = parse_time(phase['start'])
            first_start = first_start or start
            end = parse_time(phase.get('end') or row['finished_at'])
            phases[phase['phase']] = (phases.get(phase['phase'], 0) +
                                      (end - start).total_seconds())
        queued = ((first_start - created).total_seconds()
                  if first_start else None)
        write_seconds = writes_after['seconds'] - writes_before['seconds']
        return {
            'seconds': seconds, 'size': size, 'image_id': row['image_id'],
            'queued_s': queued, 'phases_s': phases,
            'worker_rss_peak': max(hwm, sampler.rss_peak),
            'helper_rss_peak': sampler.helper_rss_peak,
            'group_rss_peak': sampler.group_rss_peak,
            'disk_peak': sampler.disk_peak,
            'worker_cpu_s': cpu, 'glance_cpu_s': glance_cpu,
            'counters': counters,
            'job_writes': writes_after['count'] - writes_before['count'],
            'job_writes_s': write_seconds,
        }

    def by_the_form(self, case, run):
        """The user's clock: the Import Image form's submit (its POST,
        as the modal sends it) until Glance says the image is active,
        polled every 0.1 s."""
        _label, source, disk_format, final = CASES[case]
        name = self._name('user-clock/' + case, run)
        body = {'csrfmiddlewaretoken': self.web.cookies.get('csrftoken', ''),
                'source_url': self.url(source), 'expected_checksum': '',
                'checksum_url': '', 'name': name, 'description': '',
                'disk_format': disk_format, 'architecture': '',
                'min_disk': '', 'min_ram': '', 'visibility': 'private',
                'metadata': ''}
        began = time.perf_counter()
        status, headers, text, post_s = self.web.post(
            webclient.CREATE, body, ajax=True)
        if status != 200 or not headers.get('X-Horizon-Location'):
            raise BenchError('the Import Image form answered %d without a '
                             'redirect: %s' % (status,
                                               webclient._snippet(text)))
        deadline = time.monotonic() + self.timeout(self.size)
        image_id = image = None
        while True:
            if image_id is None:
                with sqlite3.connect(self.database, timeout=20) as db:
                    db.row_factory = sqlite3.Row
                    row = db.execute(
                        'SELECT * FROM image_importer_importjob WHERE '
                        'image_name = ?', (name,)).fetchone()
                if row is not None and row['state'] in ('failed',
                                                        'cancelled'):
                    raise BenchError('job %s ended %s: %s' % (
                        row['id'], row['state'], row['error_code']))
                image_id = row and row['image_id'] or None
            else:
                image = self.glance.get(image_id)
                if image['status'] == 'active':
                    break
            if time.monotonic() > deadline:
                raise BenchError('image of %s not active in time' % name)
            time.sleep(0.1)
        seconds = time.perf_counter() - began
        job_id = row['id']
        while (row := self._job_row(job_id))['state'] not in (
                'active', 'failed', 'cancelled'):
            time.sleep(0.1)
        self.glance.delete(image_id)
        # Where the time went: the POST, then the job's wait (its trust,
        # the broker, the worker's claim), then its run.
        created = parse_time(row['created_at'])
        phases = json.loads(row['phases'] or '[]')
        started = parse_time(phases[0]['start']) if phases else created
        return {'seconds': seconds, 'size': self.check_image(image, final),
                'disk_peak': 0, 'steps_s': {
                    'submit': post_s,
                    'until claimed': (started - created).total_seconds(),
                    'running': (parse_time(row['finished_at']) -
                                started).total_seconds()}}

    # -- by hand

    def openstack_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env.update(OS_AUTH_URL=self.stack.keystone_url,
                   OS_IDENTITY_API_VERSION='3', OS_IMAGE_API_VERSION='2',
                   OS_USERNAME='demo', OS_PASSWORD='demo',
                   OS_PROJECT_NAME='demo', OS_USER_DOMAIN_NAME='Default',
                   OS_PROJECT_DOMAIN_NAME='Default',
                   OS_REGION_NAME=stack_tool.REGION, OS_INTERFACE='public')
        return env

    def by_hand(self, case, run):
        _label, source, _disk_format, final = CASES[case]
        folder = Path(tempfile.mkdtemp(prefix='by-hand-', dir=self.state))
        openstack = str(stack_tool.venv_dir('glance') / 'bin' / 'openstack')
        steps = {}

        def step(name, cmd, **kwargs):
            kwargs.setdefault('stdout', subprocess.PIPE)
            began = time.perf_counter()
            result = subprocess.run(cmd, stderr=subprocess.PIPE, text=True,
                                    **kwargs)
            steps[name] = time.perf_counter() - began
            if result.returncode:
                raise BenchError('%s failed (rc %d): %s' % (
                    ' '.join(cmd[:2]), result.returncode,
                    result.stderr[-500:]))
            return result.stdout

        try:
            with Sampler(folder=folder) as sampler:
                began = time.perf_counter()
                download = folder / source
                step('curl', ['curl', '-sSf', '-o', str(download),
                              self.url(source)])
                upload = download
                if case == 'qcow2-raw':
                    upload = folder / 'bench.raw'
                    step(BY_HAND_STEP[case], [
                        'qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw',
                        str(download), str(upload)])
                elif case == 'xz-raw':
                    upload = folder / 'bench.raw'
                    with open(upload, 'wb') as out:
                        step(BY_HAND_STEP[case], ['xz', '-d', '-c',
                                                  str(download)], stdout=out)
                image_id = step('openstack image create', [
                    openstack, 'image', 'create', '--disk-format', final,
                    '--container-format', 'bare', '--file', str(upload),
                    '-f', 'value', '-c', 'id',
                    self._name('by-hand/' + case, run)],
                    env=self.openstack_env()).strip()
                seconds = time.perf_counter() - began
            image = self.glance.get(image_id)
            self.glance.delete(image_id)
            size = self.check_image(image, final)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {'seconds': seconds, 'size': size, 'steps_s': steps,
                'disk_peak': sampler.disk_peak}

    # -- Glance alone

    def web_download(self, final, run):
        name = FINAL_FILE[final]
        staging = self.stack.state_dir / 'glance' / 'data' / 'staging'
        with Sampler(folder=staging) as sampler:
            began = time.perf_counter()
            image_id = self.glance.create(
                self._name('web-download/' + final, run), final)
            try:
                self.glance.web_download(image_id, self.url(name))
                image = self.glance.wait_active(
                    image_id, self.timeout(self.files()[name]['size']))
                seconds = time.perf_counter() - began
                self.glance.wait_unlocked(image_id)
            finally:
                self.glance.delete(image_id)
        return {'seconds': seconds, 'size': self.check_image(image, final),
                'disk_peak': sampler.disk_peak}

    def floor(self, final, run):
        name = FINAL_FILE[final]
        glance_before = self.glance_cpu()
        glance_pids = self.glance_pids()
        counters_before = _group_counters(glance_pids)
        began = time.perf_counter()
        image_id = self.glance.create(self._name('glance-put/' + final, run),
                                      final)
        try:
            self.glance.put_file(image_id, self.source(name),
                                 self.floor_piece)
            image = self.glance.wait_active(image_id, 60)
            seconds = time.perf_counter() - began
            glance_cpu = self.glance_cpu() - glance_before
            counters = {'glance': _counters_since(counters_before,
                                                  glance_pids)}
        finally:
            self.glance.delete(image_id)
        return {'seconds': seconds, 'size': self.check_image(image, final),
                'disk_peak': 0, 'glance_cpu_s': glance_cpu,
                'counters': counters}

    # -- rounds

    def measure(self, key, func, *args):
        # Each measurement starts with nothing of the one before still to
        # be written back to disk: the kernel writes dirty pages 30 s
        # after they were written, in the middle of whatever runs then
        # (the Glance store and the work files take 1-2 GiB a run).
        os.sync()
        # A VM's CPUs are shared: what the hypervisor gives to other
        # guests meanwhile (steal) slows every process here, Glance
        # first, and is reported with the measurement it disturbed.
        steal = cpu_steal_seconds()
        try:
            record = func(*args)
        except Exception as exc:  # report it, go on with the others
            record = {'error': '%s: %s' % (type(exc).__name__, exc)}
            self.failures.append('%s: %s' % (key, record['error']))
            log('%s FAILED: %s' % (key, record['error']))
        else:
            record['steal_s'] = cpu_steal_seconds() - steal
            log('%-26s %7.2f s%s' % (
                key, record['seconds'],
                '  (CPU steal %.2f s)' % record['steal_s']
                if record['steal_s'] >= 0.01 else ''))
        self.records.setdefault(key, []).append(record)

    def run_rss_check(self, size):
        """The importer alone, once, on an image of ``size``: keys
        ``rss-check/CASE``."""
        main_size, self.size = self.size, size
        try:
            for case in self.cases:
                self.measure('rss-check/' + case, self.importer, case, 1)
        finally:
            self.size = main_size

    def warm_up(self):
        """A few tiny uploads, and a tiny import of each case through the
        worker, so that no first measurement pays for Glance's and
        Keystone's first requests or the worker's first job (its imports
        and connections)."""
        tiny = self.state / 'warm-up'
        tiny.write_bytes(os.urandom(MIB))
        for _ in range(4):
            image_id = self.glance.create(NAME_PREFIX + 'warm-up', 'raw')
            try:
                self.glance.put_file(image_id, tiny)
            finally:
                self.glance.delete(image_id)
        tiny.unlink()
        main_size, self.size = self.size, WARM_UP_SIZE
        try:
            self.prepare(WARM_UP_SIZE)
            for case in self.cases:
                self.importer(case, 0)
        finally:
            self.size = main_size

    def run_rounds(self):
        self.warm_up()
        for run in range(1, self.runs + 1):
            log('round %d of %d' % (run, self.runs))
            for final in self.finals():
                self.measure('glance-put/' + final, self.floor, final, run)
            for case in self.cases:
                self.measure('importer/' + case, self.importer, case, run)
                if self.user_clock:
                    self.measure('user-clock/' + case, self.by_the_form,
                                 case, run)
                self.measure('by-hand/' + case, self.by_hand, case, run)
            for final in self.finals():
                self.measure('web-download/' + final, self.web_download,
                             final, run)

    def finals(self):
        """The final formats the measured cases end as."""
        return [final for final in FINAL_FILE
                if any(CASES[case][3] == final for case in self.cases)]

    def check_leftovers(self):
        """Every image made was deleted; delete and report any left."""
        for image_id in self.glance.leftovers():
            self.glance.delete(image_id)
            self.failures.append('image %s was left behind' % image_id)


# ---------------------------------------------------------------- report


def summarize(records):
    """Medians of a measurement's good runs."""
    good = [r for r in records if 'error' not in r]
    out = {'runs_s': [round(r['seconds'], 3) for r in good],
           'median_s': median([r['seconds'] for r in good]),
           'sizes': [r['size'] for r in good],
           'ok': bool(good) and len(good) == len(records),
           'errors': [r['error'] for r in records if 'error' in r],
           'disk_peak_bytes': max((r['disk_peak'] for r in good),
                                  default=None)}
    steal = [r['steal_s'] for r in good if 'steal_s' in r]
    if steal:
        out['steal_s_median'] = median(steal)
        out['steal_share_max'] = max(r['steal_s'] / r['seconds']
                                     for r in good if 'steal_s' in r)
    if good and 'glance_cpu_s' in good[0]:
        out['glance_cpu_s_median'] = median([r['glance_cpu_s']
                                             for r in good])
    if good and 'counters' in good[0]:
        out['counters_median'] = {
            process: {key: median([r['counters'][process][key]
                                   for r in good]) for key in COUNTERS}
            for process in good[0]['counters']}
    if good and 'steps_s' in good[0]:
        out['steps_median_s'] = {
            name: median([r['steps_s'][name] for r in good])
            for name in good[0]['steps_s']}
    if good and 'phases_s' in good[0]:
        names = []
        for r in good:
            names += [n for n in r['phases_s'] if n not in names]
        out['phases_median_s'] = {
            name: median([r['phases_s'].get(name, 0) for r in good])
            for name in names}
        for field in ('queued_s', 'worker_cpu_s', 'job_writes_s',
                      'job_writes'):
            values = [r[field] for r in good if r[field] is not None]
            out[field + '_median'] = median(values)
        for field in ('worker_rss_peak', 'helper_rss_peak', 'group_rss_peak'):
            out[field + '_bytes'] = max(r[field] for r in good)
        out['job_writes_share'] = max(r['job_writes_s'] / r['seconds']
                                      for r in good)
    return out


def analyse(bench):
    """(results per measurement, comparison per case, targets)."""
    results = {key: summarize(records)
               for key, records in bench.records.items()}

    def med(key):
        return results.get(key, {}).get('median_s')

    convert = results.get('by-hand/qcow2-raw', {}).get(
        'steps_median_s', {}).get('qemu-img convert')
    files = bench.sources.get(bench.size) or {}

    def transfer(case, source):
        """The source's transfer time at --source-rate, or None: curl's
        download of it (by hand), which the throttled server serves a
        little below the nominal rate, else the nominal time."""
        if not bench.source_rate or source not in files:
            return None
        curl = results.get('by-hand/' + case, {}).get(
            'steps_median_s', {}).get('curl')
        return curl or files[source]['size'] / bench.source_rate

    cases = {}
    for case, (label, source, _fmt, final) in CASES.items():
        importer = med('importer/' + case)
        floor = med('glance-put/' + final)
        baseline = floor
        if case == 'qcow2-raw':
            baseline = (None if floor is None or convert is None
                        else convert + floor)
        cases[case] = {
            'label': label, 'source': source, 'final': final,
            'importer_s': importer,
            'importer_queued_s': results.get('importer/' + case, {}).get(
                'queued_s_median'),
            'by_hand_s': med('by-hand/' + case),
            'web_download_s': med('web-download/' + final),
            'floor_s': floor, 'convert_s': convert if case == 'qcow2-raw'
            else None, 'baseline_s': baseline,
            'glance_cpu_s': results.get('importer/' + case, {}).get(
                'glance_cpu_s_median'),
            'floor_glance_cpu_s': results.get('glance-put/' + final,
                                              {}).get('glance_cpu_s_median'),
            'vs_floor': ratio(importer, baseline),
            'transfer_s': transfer(case, source),
            'vs_bound': ratio(importer, max(
                (v for v in (transfer(case, source), baseline)
                 if v is not None), default=None)),
            'user_clock_s': med('user-clock/' + case),
            'user_vs_floor': ratio(med('user-clock/' + case), baseline),
            'vs_by_hand': ratio(importer, med('by-hand/' + case)),
            'vs_web_download': ratio(importer, med('web-download/' + final)),
        }
    targets = []

    def target(name, value, limit, met=None):
        targets.append({'target': name, 'value': value, 'limit': limit,
                        'met': (value is not None and value <= limit)
                        if met is None else met})

    target('qcow2 kept <= 1.10x Glance PUT of the qcow2',
           cases['qcow2']['vs_floor'], 1.10)
    target('qcow2 -> raw <= 1.15x (qemu-img convert + Glance PUT of the '
           'raw)', cases['qcow2-raw']['vs_floor'], 1.15)
    target('raw.xz -> raw <= 1.15x Glance PUT of the raw',
           cases['xz-raw']['vs_floor'], 1.15)
    if bench.source_rate:
        for case in bench.cases:
            target('%s <= 1.10x max(the source\'s transfer at %s/s, the '
                   'floor)' % (CASES[case][0], fmt_mib(bench.source_rate)),
                   cases[case]['vs_bound'], 1.10)

    for case, limit in (('qcow2', 1.10), ('qcow2-raw', 1.15),
                        ('xz-raw', 1.15)):
        if cases[case]['user_clock_s'] is not None:
            target("the user's clock, %s <= %.2fx the floor" % (
                CASES[case][0], limit), cases[case]['user_vs_floor'], limit)

    def peak(prefix, field):
        values = [r[field] for key, r in results.items()
                  if key.startswith(prefix) and r['ok']]
        return max(values) if values else None

    rss = peak('importer/', 'worker_rss_peak_bytes')
    target('worker peak RSS <= 200 MB', rss and rss / 1e6, 200)
    share = peak('importer/', 'job_writes_share')
    target('job-row (progress) writes < 1% of import time',
           share and share * 100, 1.0)
    big = peak('rss-check/', 'worker_rss_peak_bytes')
    if any(key.startswith('rss-check/') for key in results):
        growth = ratio(big, rss)
        target('worker peak RSS within 10%% between %s and %s' % (
            size_label(bench.size), size_label(bench.rss_size)), growth,
            1.10, met=growth is not None and abs(growth - 1) <= 0.10)
    return results, cases, targets


def fmt_s(value):
    return '-' if value is None else '%.2f s' % value


def fmt_x(value):
    return '-' if value is None else '%.2fx' % value


def fmt_mib(value):
    return '-' if value is None else '%.0f MiB' % (value / MIB)


# Past this share of a measurement's time stolen by the hypervisor, its
# ratio says more about the host's other guests than about the importer.
STEAL_WARNING = 0.02


def steal_report(results):
    """Lines on the CPU time the hypervisor took from this VM during the
    measurements (a shared host slows Glance, and so every ratio)."""
    measured = {key: r for key, r in results.items()
                if r.get('steal_share_max') is not None}
    if not measured:
        return ['CPU steal: not counted by this kernel.']
    worst_key = max(measured, key=lambda k: measured[k]['steal_share_max'])
    worst = measured[worst_key]['steal_share_max']
    lines = ['CPU steal (time the hypervisor gave this VM\'s CPUs to other '
             'guests), median per run: ' + ', '.join(
                 '%s %s' % (key, fmt_s(r['steal_s_median']))
                 for key, r in sorted(measured.items())
                 if key.split('/')[0] in ('importer', 'glance-put')) +
             '; the worst run (%s) had CPU time stolen equal to %.1f%% '
             'of its duration (both CPUs together).' % (
                 worst_key, 100 * worst)]
    if worst > STEAL_WARNING:
        lines.append('Warning: more than %.0f%% of a run was stolen: the '
                     'host was busy with other guests, and the ratios '
                     'below carry that noise; run again when it is quiet.'
                     % (100 * STEAL_WARNING))
    return lines


def report(bench, results, cases, targets, command):
    """The markdown tables and the targets."""
    files = bench.sources.get(bench.size)
    lines = ['`%s`: a %s disk image (first half random, second half '
             'zeros; qcow2 %s, raw.xz %s), medians of %d run%s; the '
             'upload %s.' % (
                 command, size_label(bench.size),
                 fmt_mib(files and files['bench.qcow2']['size']),
                 fmt_mib(files and files['bench.raw.xz']['size']),
                 bench.runs, '' if bench.runs == 1 else 's',
                 'is fed the download, or the conversion to raw, as it '
                 'goes (OVERLAP_UPLOAD)' if bench.overlap else
                 'starts after the download (--no-overlap)')
             + (" Each import is given the source's %s as the user's "
                'checksum (--checksum)%s.' % (
                    bench.checksum, ', its upload overlapping the download '
                    '(--overlap-verified)' if bench.overlap_verified else
                    ', sent once it matched')
                if bench.checksum else '')
             + ('' if bench.find_checksums else
                " No search for the publisher's checksum files "
                '(--no-find-checksums).')
             + (' The images are served at %s/s at most (--source-rate), '
                'to the importer, curl and web-download alike.'
                % fmt_mib(bench.source_rate) if bench.source_rate else '')
             + (' Every answer of the file server comes %d ms late '
                '(--source-latency).' % round(1000 * bench.source_latency)
                if bench.source_latency else ''),
             '',
             '| outcome | this importer (queued) | by hand '
             '| Glance web-download | Glance PUT (floor) '
             '| importer / floor | importer / by hand '
             '| importer / web-download |',
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for case, c in cases.items():
        floor = fmt_s(c['floor_s'])
        if c['convert_s'] is not None:
            floor = 'convert %s + %s' % (fmt_s(c['convert_s']), floor)
        lines.append('| %s | %s (%s) | %s | %s%s | %s | %s | %s | %s |' % (
            c['label'], fmt_s(c['importer_s']),
            fmt_s(c['importer_queued_s']), fmt_s(c['by_hand_s']),
            fmt_s(c['web_download_s']),
            ' (the .raw URL)' if c['final'] == 'raw' else '', floor,
            fmt_x(c['vs_floor']), fmt_x(c['vs_by_hand']),
            fmt_x(c['vs_web_download'])))
    if bench.source_rate:
        lines += ['', 'The source at %s/s%s: each import against the larger '
                  "of the source's transfer time (curl's) and the floor: " % (
                      fmt_mib(bench.source_rate),
                      ', %d ms away' % round(1000 * bench.source_latency)
                      if bench.source_latency else '') + ', '.join(
                      '%s %s vs max(%s, %s) = %s' % (
                          c['label'], fmt_s(c['importer_s']),
                          fmt_s(c['transfer_s']), fmt_s(c['baseline_s']),
                          fmt_x(c['vs_bound']))
                      for case, c in cases.items() if case in bench.cases)
                  + '.']
    clocked = [c for c in cases.values() if c['user_clock_s'] is not None]
    if clocked:
        lines += ['', "The user's clock (--user-clock: the Import Image "
                  "form's submit until Glance says active; jobs on a "
                  'trust, as in the demo), against the floor: ' + ', '.join(
                      '%s %s (%s)' % (c['label'], fmt_s(c['user_clock_s']),
                                      fmt_x(c['user_vs_floor']))
                      for c in clocked) + '. Step medians: ' + '; '.join(
                      '%s: %s' % (c['label'], ', '.join(
                          '%s %s' % (step, fmt_s(value)) for step, value in
                          results['user-clock/' + case].get(
                              'steps_median_s', {}).items()))
                      for case, c in cases.items()
                      if c['user_clock_s'] is not None) + '.']
    lines += ['', "Glance's CPU time (median), the importer's run / the "
              'floor PUT: ' + ', '.join(
                  '%s %s / %s' % (c['label'], fmt_s(c['glance_cpu_s']),
                                  fmt_s(c['floor_glance_cpu_s']))
                  for c in cases.values()) + '.']
    lines += ['', "Glance's and the worker's processes (medians; user / "
              'system CPU, minor page faults, context switches):', '']
    shown = [('importer/' + case, CASES[case][0]) for case in CASES] + [
        ('glance-put/' + final, 'floor PUT of the ' + final)
        for final in FINAL_FILE]
    for key, label in shown:
        counters = results.get(key, {}).get('counters_median')
        if not counters:
            continue
        lines.append('- %s: %s' % (label, '; '.join(
            '%s %s / %s, %s faults, %s switches' % (
                process, fmt_s(c['user_s']), fmt_s(c['sys_s']),
                int(c['minor_faults']), int(c['switches']))
            for process, c in counters.items())))
    lines += ['', 'By hand, step medians:', '']
    for case in CASES:
        steps = results.get('by-hand/' + case, {}).get('steps_median_s', {})
        lines.append('- %s: %s' % (CASES[case][0], ', '.join(
            '`%s` %s' % (name, fmt_s(value))
            for name, value in steps.items())))
    lines += ['', '| importer, %s | queued | phases | worker CPU '
              '| worker peak RSS | qemu-img/xz peak RSS | peak temp disk '
              '| job-row writes |' % size_label(bench.size),
              '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |']
    keys = ['importer/' + case for case in bench.cases]
    keys += [key for key in results if key.startswith('rss-check/')]
    for key in keys:
        r = results.get(key)
        label = CASES[key.split('/')[1]][0]
        if key.startswith('rss-check/'):
            label += ', %s, 1 run' % size_label(bench.rss_size)
        if not r or r['median_s'] is None:
            lines.append('| %s | failed | | | | | | |' % label)
            continue
        phases = ', '.join('%s %s' % (name, fmt_s(value))
                           for name, value in r['phases_median_s'].items())
        lines.append(
            '| %s | %s | %s | %s | %s | %s | %s | %d in %.3f s (%.2f%%) |'
            % (label, fmt_s(r['queued_s_median']), phases,
               fmt_s(r['worker_cpu_s_median']),
               fmt_mib(r['worker_rss_peak_bytes']),
               fmt_mib(r['helper_rss_peak_bytes']),
               fmt_mib(r['disk_peak_bytes']), r['job_writes_median'],
               r['job_writes_s_median'], 100 * r['job_writes_share']))
    staging = [results.get('web-download/' + final, {}).get(
        'disk_peak_bytes') for final in FINAL_FILE]
    lines += ['', 'Peak temp disk: by hand %s; Glance web-download staging '
              '%s (qcow2), %s (raw).' % (
                  ', '.join(fmt_mib(results.get('by-hand/' + case, {}).get(
                      'disk_peak_bytes')) for case in CASES),
                  *(fmt_mib(value) for value in staging)),
              '']
    lines += steal_report(results) + ['', 'Targets (ratios from this run):',
                                      '']
    for t in targets:
        value = '-' if t['value'] is None else '%.2f' % t['value']
        lines.append('- %s %s: %s' % ('MET' if t['met'] else 'MISSED',
                                      t['target'], value))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=parse_size, default=2 * GIB,
                        help='virtual size of the test image (default 2G)')
    parser.add_argument('--runs', type=int, default=3,
                        help='rounds; medians are reported (default 3)')
    parser.add_argument('--rss-size', type=parse_size, default=None,
                        help="also import a bigger image (e.g. 8G) once "
                             "and compare the worker's peak RSS")
    parser.add_argument('--no-overlap', dest='overlap',
                        action='store_false',
                        help="upload only after the download "
                             "(IMAGE_IMPORTER['OVERLAP_UPLOAD'] = False)")
    parser.add_argument('--no-find-checksums', dest='find_checksums',
                        action='store_false',
                        help="do not look for the publisher's checksum "
                             "files beside each image "
                             "(IMAGE_IMPORTER['FIND_CHECKSUMS'] = False)")
    parser.add_argument('--overlap-verified', action='store_true',
                        help="with --checksum: upload during the download "
                             "all the same (IMAGE_IMPORTER["
                             "'OVERLAP_VERIFIED_UPLOAD'] = True)")
    parser.add_argument('--broker', default=None,
                        help="the worker's BROKER_URL (default: the "
                             "embedded broker)")
    parser.add_argument('--cases', default=','.join(CASES),
                        help='comma-separated cases to measure (default: '
                             '%(default)s)')
    parser.add_argument('--floor-piece', type=parse_piece,
                        default=FLOOR_PIECE,
                        help="the floor PUT's HTTP chunk size (default: "
                             '64K, the importer\'s own)')
    parser.add_argument('--checksum', choices=['sha512'], default=None,
                        help="give each import the source's checksum, as "
                             "a user copies it from a SHA512SUMS file")
    parser.add_argument('--source-rate', type=parse_rate, default=None,
                        help='serve the images at most this fast (bytes '
                             'per second, e.g. 100M), as a server across '
                             'a network would; the same for every way '
                             'that downloads (default: as fast as '
                             'loopback goes)')
    parser.add_argument('--source-latency', type=float, default=0.0,
                        help='delay every answer of the file server by '
                             'this many seconds (e.g. 0.02), as a server '
                             'across a network would (default: none)')
    parser.add_argument('--user-clock', action='store_true',
                        help="also time each case on the user's clock: "
                             "Horizon's Import Image form, submit until "
                             'Glance says active')
    parser.add_argument('--cache', default=None,
                        help='folder keeping the generated images (default: '
                             'bench-images under the cache dir)')
    args = parser.parse_args(argv)
    # Stopped early (kill, a CI timeout), it still stops its stack.
    stack_tool.interrupt_on_signals()
    argv = sys.argv[1:] if argv is None else argv
    command = ' '.join(['tools/bench.py', *argv])
    state = Path(tempfile.mkdtemp(prefix='hii-bench-'))
    bench = Bench(args.size, args.runs, state,
                  args.cache or stack_tool.cache_dir() / 'bench-images')
    bench.rss_size = args.rss_size
    bench.broker = args.broker
    bench.overlap = args.overlap
    bench.overlap_verified = args.overlap_verified
    bench.find_checksums = args.find_checksums
    bench.floor_piece = args.floor_piece
    bench.checksum = args.checksum
    bench.source_rate = args.source_rate
    bench.source_latency = args.source_latency
    bench.user_clock = args.user_clock
    bench.cases = [case for case in args.cases.split(',') if case]
    unknown = set(bench.cases) - set(CASES)
    if unknown:
        parser.error('unknown cases: %s' % ', '.join(sorted(unknown)))
    began = time.monotonic()
    try:
        for size in filter(None, (args.size, args.rss_size)):
            bench.prepare(size)
        bench.start()
        bench.run_rounds()
        if args.rss_size:
            bench.run_rss_check(args.rss_size)
        bench.check_leftovers()
    except Exception as exc:
        traceback.print_exc()
        bench.failures.append('%s: %s' % (type(exc).__name__, exc))
    finally:
        bench.stop()
        if bench.failures:
            bench.failures.append('logs kept in %s' % state)
        else:
            shutil.rmtree(state, ignore_errors=True)
    results, cases, targets = analyse(bench)
    print(report(bench, results, cases, targets, command))
    if bench.failures:
        print('\nFailures:\n' + '\n'.join('- ' + f for f in bench.failures))
    print(json.dumps({
        'bench': 'import', 'command': command, 'size': args.size,
        'rss_size': args.rss_size, 'runs': args.runs,
        'overlap': args.overlap, 'checksum': args.checksum,
        'overlap_verified': args.overlap_verified,
        'find_checksums': args.find_checksums,
        'source_rate': args.source_rate,
        'source_latency': args.source_latency,
        'sources': {size: {name: found['size']
                           for name, found in files.items()}
                    for size, files in bench.sources.items()},
        'results': results, 'cases': cases, 'targets': targets,
        'failures': bench.failures, 'ok': not bench.failures,
        'wall_s': round(time.monotonic() - began, 1)}))
    return 1 if bench.failures else 0


if __name__ == '__main__':
    sys.exit(main())
