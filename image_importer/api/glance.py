"""Glance, as the dashboard reaches it (with the user's request, through
Horizon's own client) and as the worker does (with the job's authority).
"""

import logging

from django.core.cache import cache
from glanceclient import exc as glance_exc
from openstack_dashboard.api import glance as horizon_glance

from image_importer.api import keystone
from image_importer.engine import glance as engine_glance
from image_importer.engine import provenance


LOG = logging.getLogger(__name__)
# The Metadata Catalog's definitions for images, read once a while per
# project (one call per namespace).
CATALOG_RESOURCE_TYPE = 'OS::Glance::Image'
CATALOG_SECONDS = 300


class ImageNotDeleted(Exception):
    """Glance would not delete an image (see the log for why)."""


def job_client(job):
    """A Glance v2 client at ``job.glance_endpoint`` with the job's
    authority (``keystone.job_session``)."""
    return engine_glance.session_client(keystone.job_session(job),
                                        job.glance_endpoint)


def image_meta(job):
    """``build(disk_format)``: the Glance fields of ``job``'s image in
    that disk format, built by Horizon's own Create Image code so that the
    defaults and the container format match it."""
    def build(disk_format):
        return horizon_glance.create_image_metadata({
            **job.properties,
            'kernel': job.kernel_id,
            'ramdisk': job.ramdisk_id,
            'name': job.image_name,
            'description': job.description,
            'disk_format': disk_format,
            'architecture': job.architecture,
            'min_disk': job.min_disk,
            'min_ram': job.min_ram,
            'visibility': job.visibility,
            'protected': job.protected,
        })
    return build


def check_quota(request, size=None):
    """Refuse early what the request's project's Glance quotas would refuse
    (``ImportFailure``; see ``engine.glance.check_quota``)."""
    engine_glance.check_quota(horizon_glance.glanceclient(request), size)


def image_exists(request, image_id):
    """Whether the request's user still sees the image: False once it is
    deleted, None when Glance cannot say now."""
    try:
        horizon_glance.image_get(request, image_id)
    except glance_exc.HTTPNotFound:
        return False
    except Exception:   # Glance down, or the login gone: no verdict
        return None
    return True


def delete_image(request, image_id):
    """Delete an image the request's user sees (a finished import's)."""
    horizon_glance.image_delete(request, image_id)


def delete_left_image(request, image_id):
    """Delete the unfinished image a failed job left: the job made it, so
    a protection the user asked for is lifted first. Gone already is fine;
    ``ImageNotDeleted`` if Glance refuses."""
    if not engine_glance.delete_image(horizon_glance.glanceclient(request),
                                      image_id):
        raise ImageNotDeleted(image_id)


def metadata_catalog(request, exclude=()):
    """The Metadata Catalog's properties for images, as Create Image
    offers them: ``[{'title', 'description', 'properties': [{'name',
    'title', 'description', 'type', 'enum', 'default'}]}]``, namespaces by
    title, an object's properties titled "Object \u203a Property";
    properties named in ``exclude`` left out. None if Glance cannot say
    now."""
    key = 'image-importer-catalog:%s' % request.user.project_id
    namespaces = cache.get(key)
    if namespaces is None:
        try:
            found, _more, _prev = horizon_glance.metadefs_namespace_full_list(
                request, CATALOG_RESOURCE_TYPE)
        except Exception:
            LOG.warning('Could not read the Metadata Catalog', exc_info=True)
            return None
        namespaces = [_namespace(item) for item in found]
        cache.set(key, namespaces, CATALOG_SECONDS)
    catalog = []
    for namespace in namespaces:
        properties = [p for p in namespace['properties']
                      if p['name'] not in exclude]
        if properties:
            catalog.append(dict(namespace, properties=properties))
    return sorted(catalog, key=lambda n: n['title'].lower())


def _namespace(item):
    properties = [_property(name, info, '')
                  for name, info in sorted(item.get('properties', {}).items())]
    for obj in item.get('objects', ()):
        properties += [_property(name, info, obj.get('name', ''))
                       for name, info in sorted(obj.get('properties',
                                                        {}).items())]
    return {'title': item.get('display_name') or item.get('namespace', ''),
            'description': item.get('description', ''),
            'properties': properties}


def _property(name, info, parent):
    title = info.get('title') or name
    return {'name': name,
            'title': '%s \u203a %s' % (parent, title) if parent else title,
            'description': info.get('description', ''),
            'type': info.get('type', 'string'),
            'enum': list(info.get('enum') or ()),
            'default': '' if info.get('default') is None
            else str(info['default']).lower()
            if isinstance(info['default'], bool) else str(info['default'])}


def images_from_source(request, source_checksum, limit=5):
    """Images the request's user sees that an import made from a file with
    ``source_checksum`` (``algorithm:hex``, the image's
    ``image_importer_source_checksum``); [] if Glance cannot say now."""
    return _images(request, {
        provenance.PREFIX + 'source_checksum': source_checksum}, limit)


def identical_images(request, image_id, limit=5):
    """Other images the user sees that hold the same bytes as
    ``image_id`` (Glance's ``os_hash_value``); [] if Glance cannot say."""
    try:
        image = horizon_glance.image_get(request, image_id)
    except Exception:
        return []
    if not getattr(image, 'os_hash_value', None):
        return []
    return [found for found in _images(
        request, {'os_hash_value': image.os_hash_value}, limit + 1)
        if found.id != image_id][:limit]


def _images(request, filters, limit):
    try:
        images, _more, _prev = horizon_glance.image_list_detailed(
            request, filters=dict(filters, status='active'))
    except Exception:
        LOG.warning('Could not list images by %s', sorted(filters),
                    exc_info=True)
        return []
    return list(images)[:limit]
