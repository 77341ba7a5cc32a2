"""Know what a disk image really is, and convert it with qemu-img.

A file is inspected by oslo.utils' format inspector (pure Python, reads
headers only) before ``qemu-img`` is allowed to open it; ``qemu-img`` then
always runs with an explicit ``-f``, an argument list, CPU and memory limits
and ``LC_ALL=C``, and its own answer must agree with the inspector's.
"""

import ctypes
import dataclasses
import itertools
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys

from oslo_concurrency import processutils
from oslo_utils.imageutils import format_inspector

from image_importer.engine.errors import ImportFailure

LOG = logging.getLogger(__name__)

QEMU_IMG = 'qemu-img'
# Same bounds Glance and Nova put on qemu-img: 1 GiB address space, 30 s CPU
# for ``info``. Conversion gets more CPU time; its memory stays bounded.
INFO_LIMITS = processutils.ProcessLimits(address_space=1 << 30, cpu_time=30)
CONVERT_LIMITS = processutils.ProcessLimits(address_space=2 << 30,
                                            cpu_time=3600)
INFO_TIMEOUT = 60

# Glance disk_format -> qemu-img driver name, for formats we can write.
WRITABLE = {'raw': 'raw', 'qcow2': 'qcow2', 'vmdk': 'vmdk', 'vdi': 'vdi',
            'vhd': 'vpc', 'vhdx': 'vhdx'}
WRITE_OPTIONS = {'vmdk': ['-o', 'subformat=streamOptimized'],
                 'vhd': ['-o', 'subformat=dynamic']}
# Inspector name -> (Glance disk_format, qemu-img driver used to read it).
# A GPT-partitioned disk is a raw image to Glance and qemu-img.
READABLE = {'raw': ('raw', 'raw'), 'gpt': ('raw', 'raw'),
            'qcow2': ('qcow2', 'qcow2'), 'vmdk': ('vmdk', 'vmdk'),
            'vdi': ('vdi', 'vdi'), 'vhd': ('vhd', 'vpc'),
            'vhdx': ('vhdx', 'vhdx'), 'iso': ('iso', 'raw')}
PROGRESS_RE = re.compile(rb'\((\d+(?:\.\d+)?)/100%\)')


@dataclasses.dataclass(frozen=True)
class DiskInfo:
    format: str          # Glance disk_format
    virtual_size: int    # bytes the guest sees
    qemu_format: str     # qemu-img driver that reads it


def child_env():
    """The environment of a tool the worker runs: a known locale and
    PATH, nothing of the worker's own (its settings, proxies)."""
    return {'LC_ALL': 'C', 'PATH': os.environ.get('PATH', '/usr/bin:/bin')}


PR_SET_PDEATHSIG = 1


def die_with_parent():
    """In the child, before exec: the kernel kills qemu-img if the worker
    dies, even by SIGKILL, so no conversion outlives its job."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def limited(limits, cmd):
    """``cmd`` run under ``limits`` (memory, CPU time), by prlimit."""
    return ([sys.executable, '-m', 'oslo_concurrency.prlimit'] +
            limits.prlimit_args() + ['--'] + cmd)


def inspect(path, inspectors=None, max_virtual_size=None, qemu=True):
    """Return the ``DiskInfo`` of the file at ``path`` or refuse it.

    ``inspectors`` are the formats a streaming ``InspectWrapper`` matched
    while it saw every byte of the file; without them the file is read
    again here. ``qemu=False`` (an image that went to Glance as it
    arrived, with no file to read) skips ``qemu-img info``, the second
    opinion: the inspector's answer stands alone, as it does in Glance.
    """
    if inspectors is None:
        try:
            inspector = format_inspector.detect_file_format(path)
        except format_inspector.ImageFormatError as exc:
            raise ImportFailure('format_ambiguous', detail=str(exc))
    else:
        inspector = _one_format(inspectors)
    name = str(inspector)
    if name not in READABLE:
        raise ImportFailure('format_refused', format=name)
    try:
        inspector.safety_check()
    except format_inspector.SafetyCheckFailed as exc:
        failures = sorted(exc.failures)
        if 'backing_file' in failures:
            raise ImportFailure('backing_file', format=name)
        raise ImportFailure('unsafe_image', format=name,
                            checks=', '.join(failures))
    except format_inspector.ImageFormatError as exc:
        raise ImportFailure('format_unreadable', format=name, detail=str(exc))
    check_virtual_size(inspector.virtual_size, max_virtual_size)
    disk_format, qemu_format = READABLE[name]
    if not qemu:
        return DiskInfo(disk_format, inspector.virtual_size, qemu_format)
    info = qemu_info(path, qemu_format)
    if info.get('format') != qemu_format:
        raise ImportFailure('format_disagreement', format=name,
                            qemu=info.get('format', '?'))
    if info.get('backing-filename') or info.get('full-backing-filename'):
        raise ImportFailure('backing_file', format=name)
    if (info.get('format-specific') or {}).get('data', {}).get('data-file'):
        raise ImportFailure('unsafe_image', format=name, checks='data_file')
    virtual_size = int(info['virtual-size'])
    check_virtual_size(virtual_size, max_virtual_size)
    return DiskInfo(disk_format, virtual_size, qemu_format)


def _one_format(inspectors):
    """The single format the content matched; a bootable ISO also carries
    a GPT and counts as ISO. Anything else matching twice is refused."""
    if not inspectors:
        raise ImportFailure('format_unreadable', format='?',
                            detail='incomplete')
    by_name = {str(i): i for i in inspectors}
    if set(by_name) == {'iso', 'gpt'}:
        return by_name['iso']
    if len(by_name) > 1:
        raise ImportFailure('format_ambiguous',
                            detail=', '.join(sorted(by_name)))
    return inspectors[0]


def check_virtual_size(size, limit):
    if limit is not None and size and size > limit:
        raise ImportFailure('virtual_too_large', size=size, limit=limit)


def qemu_info(path, qemu_format):
    """``qemu-img info`` as a dict; only ever with an explicit format."""
    cmd = [QEMU_IMG, 'info', '-f', qemu_format, '--output=json',
           '--force-share', path]
    try:
        out, _err = processutils.execute(
            *limited(INFO_LIMITS, cmd), env_variables=child_env(),
            timeout=INFO_TIMEOUT, preexec_fn=die_with_parent)
    except processutils.ProcessExecutionError as exc:
        raise ImportFailure('qemu_failed', step='info',
                            detail=(exc.stderr or '').strip()[-500:])
    return json.loads(out)


def convert(src, src_info, dst, target, progress):
    """Write ``src`` as ``target`` format to ``dst``.

    ``progress(done, total)`` gets qemu-img's percentage as bytes of the
    virtual size; if it raises ``Cancelled`` the qemu-img process is killed
    and ``dst`` removed before the exception goes on.
    """
    if target not in WRITABLE:
        raise ImportFailure('cannot_convert', source=src_info.format,
                            target=target)
    cmd = [QEMU_IMG, 'convert', '-p', '-f', src_info.qemu_format,
           '-O', WRITABLE[target]] + WRITE_OPTIONS.get(target, []) + [src, dst]
    total = src_info.virtual_size
    errors_path = dst + '.stderr'
    try:
        with open(errors_path, 'w+b') as errors:
            returncode = _run_convert(cmd, errors, dst, total, progress)
            errors.seek(0)
            detail = errors.read().decode(errors='replace').strip()[-500:]
    finally:
        _remove(errors_path)
    if returncode != 0:
        _remove(dst)
        raise ImportFailure('qemu_failed', step='convert', detail=detail)
    progress(total, total)


NBDCOPY = 'nbdcopy'
QEMU_NBD = 'qemu-nbd'
STREAM_CHUNK = 1024 * 1024


def can_stream_raw():
    """Whether ``raw_chunks`` can run here (qemu-nbd, and nbdcopy from
    libnbd)."""
    return bool(shutil.which(NBDCOPY) and shutil.which(QEMU_NBD))


# Past this many extents in its map, an image is read through QEMU.
MAX_EXTENTS = 65536
_ZEROS = bytes(STREAM_CHUNK)


def raw_chunks(src, src_info, errors_path):
    """The disk of the inspected image ``src`` as raw bytes, in order, in
    chunks, with no converted file written. Where ``qemu-img map`` says
    every byte of the disk is either zeros or stored as it is at a known
    place in the file (an uncompressed, unencrypted image: ``extents``),
    the worker reads those places itself and makes the zeros, so no copy
    of them goes through another process. Otherwise QEMU's own block
    layer reads the disk (``qemu-nbd``, read-only, with its explicit
    format) and ``nbdcopy`` writes it to a pipe; those processes run with
    the conversion's limits and die with the worker, and stopping early
    kills them. Raises ``qemu_failed`` if either way fails.
    ``errors_path`` takes the processes' stderr."""
    found = extents(src, src_info)
    if found is not None:
        return read_extents(src, found)
    return _nbdcopy_chunks(src, src_info, errors_path)


def extents(src, src_info):
    """The disk as ``[(length, offset), ...]`` in order, from ``qemu-img
    map``: ``length`` bytes lie unchanged at ``offset`` in the file, or
    are zeros where ``offset`` is None. None where some bytes can only be
    read through QEMU (compressed or encrypted clusters), or the map is
    longer than ``MAX_EXTENTS`` (it is read no further: a disk mapped in
    millions of pieces costs no memory here) or does not add up to the
    disk."""
    cmd = [QEMU_IMG, 'map', '-f', src_info.qemu_format, '--output=json',
           '--force-share', src]
    errors_path = src + '.map.stderr'
    try:
        with open(errors_path, 'w+b') as errors:
            proc = subprocess.Popen(limited(INFO_LIMITS, cmd), env=child_env(),
                                    preexec_fn=die_with_parent,
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=errors)
            try:
                lines = list(itertools.islice(proc.stdout, MAX_EXTENTS + 1))
                if len(lines) > MAX_EXTENTS:
                    proc.kill()
                returncode = proc.wait(timeout=INFO_TIMEOUT)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                proc.stdout.close()
            errors.seek(0)
            detail = errors.read().decode(errors='replace').strip()[-500:]
    finally:
        _remove(errors_path)
    if len(lines) > MAX_EXTENTS:
        return None
    if returncode != 0:
        raise ImportFailure('qemu_failed', step='map', detail=detail)
    try:
        return _file_extents(lines, os.path.getsize(src),
                             src_info.virtual_size)
    except (KeyError, TypeError, ValueError):
        return None     # not the map we know: QEMU reads the disk


def _file_extents(lines, file_size, virtual_size):
    """``extents`` from the lines of ``qemu-img map --output=json``, one
    extent a line, or None."""
    found, start = [], 0
    for line in lines:
        text = line.strip().lstrip(b'[').rstrip(b',]')
        if not text:
            continue
        entry = json.loads(text)
        length = entry['length']
        if entry['start'] != start or entry['depth'] != 0 or length <= 0:
            return None
        if entry['zero']:
            found.append((length, None))
        elif (entry['data'] and 'offset' in entry and
              0 <= entry['offset'] <= file_size - length):
            found.append((length, entry['offset']))
        else:
            return None
        start += length
    if start != virtual_size:
        return None
    return found


def read_extents(src, found):
    """The bytes of ``extents`` (``[(length, offset), ...]``) from the
    file ``src``, in chunks."""
    with open(src, 'rb', buffering=0) as f:
        for length, offset in found:
            done = 0
            while done < length:
                size = min(STREAM_CHUNK, length - done)
                if offset is None:
                    yield _ZEROS if size == STREAM_CHUNK else bytes(size)
                else:
                    data = os.pread(f.fileno(), size, offset + done)
                    if len(data) != size:
                        raise ImportFailure(
                            'qemu_failed', step='convert',
                            detail='the image file ended inside its data')
                    yield data
                done += size


def skip(found, size):
    """``extents`` past their first ``size`` bytes."""
    rest = []
    for length, offset in found:
        if size >= length:
            size -= length
            continue
        rest.append((length - size, None if offset is None else
                     offset + size))
        size = 0
    return rest


def agrees(src, ours, theirs):
    """Whether the extents ``ours`` (a start of the disk) read the same
    bytes of ``src`` as the same start of ``theirs`` (``extents``): the
    same places in the file, or zeros; where ours place bytes that
    theirs call zeros (a cluster the work file holds as a hole), those
    bytes must be zeros."""
    theirs = iter(theirs)
    their_length, their_offset = 0, None
    for length, offset in ours:
        while length:
            if not their_length:
                their_length, their_offset = next(theirs, (0, None))
                if not their_length:
                    return False
            size = min(length, their_length)
            if offset != their_offset and (
                    offset is None or their_offset is not None or
                    not _zeros(src, size, offset)):
                return False
            length -= size
            their_length -= size
            if offset is not None:
                offset += size
            if their_offset is not None:
                their_offset += size
    return True


def _zeros(src, size, offset):
    return all(not chunk.strip(b'\0')
               for chunk in read_extents(src, [(size, offset)]))


def _nbdcopy_chunks(src, src_info, errors_path):
    cmd = [NBDCOPY, '--', '[', QEMU_NBD, '--read-only', '--format',
           src_info.qemu_format, src, ']', '-']
    try:
        with open(errors_path, 'w+b') as errors:
            proc = subprocess.Popen(limited(CONVERT_LIMITS, cmd),
                                    env=child_env(),
                                    preexec_fn=die_with_parent,
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=errors)
            try:
                while data := proc.stdout.read(STREAM_CHUNK):
                    yield data
                returncode = proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
            errors.seek(0)
            detail = errors.read().decode(errors='replace').strip()[-500:]
    finally:
        _remove(errors_path)
    if returncode != 0:
        raise ImportFailure('qemu_failed', step='convert', detail=detail)


def _run_convert(cmd, errors, dst, total, progress):
    proc = subprocess.Popen(limited(CONVERT_LIMITS, cmd), env=child_env(),
                            preexec_fn=die_with_parent,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=errors)
    try:
        tail = b''
        while data := proc.stdout.read1(4096):
            tail = (tail + data)[-256:]
            found = PROGRESS_RE.findall(tail)
            if found:
                progress(int(total * float(found[-1]) / 100), total)
        return proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        _remove(dst)
        raise
    finally:
        proc.stdout.close()


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
