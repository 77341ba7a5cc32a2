"""The import pipeline: fetch, inspect, convert, upload.

Plain Python: no Django, no Celery. The caller passes a ``reporter`` with
three methods, which is how progress, the Glance image id and cancellation
(``reporter`` raising ``Cancelled``) cross the boundary:

- ``phase(name)``: a phase begins: ``downloading``, ``converting`` or
  ``uploading``;
- ``progress(done, total)``: bytes done in the phase (``total`` may be None);
- ``image_created(image_id)``: the Glance image record exists.
"""

import dataclasses
import os

from image_importer.engine import disk
from image_importer.engine import fetch
from image_importer.engine import glance
from image_importer.engine.errors import ImportFailure


@dataclasses.dataclass
class ImportRequest:
    url: str
    fetcher: fetch.Fetcher
    glance_client: object
    # Glance fields for the final disk format: ``image_meta('qcow2')``.
    image_meta: object
    # The disk format wanted in Glance; None keeps the detected one.
    disk_format: str | None = None
    credentials: str | None = None
    max_bytes: int | None = None


@dataclasses.dataclass
class ImportResult:
    image_id: str
    source_format: str
    disk_format: str
    size: int
    virtual_size: int


def run(request, workdir, reporter):
    """Import ``request`` using the private directory ``workdir``.

    Files are created under ``workdir`` only, with fixed names; the caller
    removes the directory whatever happens.
    """
    source = os.path.join(workdir, 'source')
    reporter.phase('downloading')
    with open(source, 'wb') as dest:
        fetch.download(request.fetcher, request.url, dest, reporter.progress,
                       credentials=request.credentials,
                       max_bytes=request.max_bytes)
    info = disk.inspect(source)
    target = request.disk_format or info.format
    data = source
    if target != info.format:
        if info.format == 'iso' or target == 'iso':
            raise ImportFailure('cannot_convert', source=info.format,
                                target=target)
        reporter.phase('converting')
        data = os.path.join(workdir, 'converted')
        disk.convert(source, info, data, target, reporter.progress)
        os.unlink(source)
        converted = disk.inspect(data)
        if converted.format != target:
            raise ImportFailure('format_disagreement', format=target,
                                qemu=converted.format)
    reporter.phase('uploading')
    size = os.path.getsize(data)
    image_id = glance.upload(request.glance_client, request.image_meta(target),
                             data, size, reporter.progress,
                             reporter.image_created)
    return ImportResult(image_id=image_id, source_format=info.format,
                        disk_format=target, size=size,
                        virtual_size=info.virtual_size)
