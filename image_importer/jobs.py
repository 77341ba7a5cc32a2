"""The dashboard's side of jobs: query them per project, submit them."""

import posixpath
import urllib.parse

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from openstack_dashboard.api import base as api_base

from image_importer import crypto
from image_importer.engine import fetch
from image_importer.models import ImportJob


def project_jobs(request):
    """Jobs of the request's project: the only ones a member may touch."""
    return ImportJob.objects.filter(project_id=request.user.project_id)


def get_project_job(request, job_id):
    """The job if it belongs to the request's project, else Http404."""
    try:
        return project_jobs(request).get(pk=job_id)
    except (ImportJob.DoesNotExist, ValidationError):
        raise Http404(job_id)


def name_from_url(url):
    """The file name at the end of a URL's path ('' when there is none)."""
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(posixpath.basename(path))[:255]


def source_host(url):
    """The host (and port) of a URL, never its user:password part."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ''
    return '%s:%s' % (host, parts.port) if parts.port else host


def submit(request, data):
    """Record a job for the request's user and queue it after commit."""
    from image_importer import tasks

    url, credentials = fetch.split_credentials(data['source_url'])
    token = request.user.token
    job = ImportJob.objects.create(
        project_id=request.user.project_id,
        user_id=request.user.id,
        user_name=request.user.username,
        source_url=url,
        source_credentials=crypto.encrypt(credentials),
        image_name=data.get('name') or name_from_url(url),
        description=data.get('description') or '',
        disk_format=data.get('disk_format') or '',
        architecture=data.get('architecture') or '',
        min_disk=data.get('min_disk') or 0,
        min_ram=data.get('min_ram') or 0,
        visibility=data.get('visibility') or 'private',
        protected=bool(data.get('protected')),
        expected_checksum=data.get('expected_checksum') or '',
        checksum_url=data.get('checksum_url') or '',
        glance_endpoint=api_base.url_for(request, 'image'),
        auth_token=crypto.encrypt(token.id),
        token_expires=token.expires,
    )
    transaction.on_commit(lambda: tasks.enqueue(job.pk))
    return job
