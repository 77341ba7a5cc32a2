"""The dashboard's side of Glance."""

from unittest import mock

from glanceclient import exc as glance_exc
import pytest

from image_importer.api import glance as api_glance


@pytest.mark.parametrize('answer, exists', [
    (None, True),
    (glance_exc.HTTPNotFound('gone'), False),
    (glance_exc.HTTPServiceUnavailable('down'), None),
])
def test_image_exists_tells_deleted_from_unknown(answer, exists):
    with mock.patch.object(api_glance.horizon_glance, 'image_get',
                           side_effect=answer) as image_get:
        assert api_glance.image_exists('request', 'img-1') is exists
    image_get.assert_called_once_with('request', 'img-1')


CATALOG = [
    {'namespace': 'OS::Compute::Libvirt', 'display_name': 'libvirt Driver '
     'Options for Images', 'description': 'The libvirt driver options.',
     'properties': {
         'hw_disk_bus': {'title': 'Disk Bus', 'type': 'string',
                         'description': 'The disk controller.',
                         'enum': ['scsi', 'virtio']},
         'hw_qemu_guest_agent': {'title': 'QEMU Guest Agent',
                                 'type': 'boolean', 'default': False}}},
    {'namespace': 'OS::Software::DBMS', 'display_name': 'Database Software',
     'objects': [{'name': 'MySQL', 'properties': {
         'sw_database_mysql_version': {'title': 'Version'}}}]},
    {'namespace': 'OS::OperatingSystem', 'display_name': 'Common Operating '
     'System Properties', 'properties': {
         'os_distro': {'title': 'OS Distro'}}},
]


@pytest.mark.django_db
def test_the_metadata_catalog_is_offered_as_create_image_offers_it():
    request = mock.Mock(**{'user.project_id': 'p-catalog'})
    with mock.patch.object(api_glance.horizon_glance,
                           'metadefs_namespace_full_list',
                           return_value=(CATALOG, False, False)) as listed:
        catalog = api_glance.metadata_catalog(request, exclude={'os_distro'})
        again = api_glance.metadata_catalog(request)

    listed.assert_called_once_with(request, 'OS::Glance::Image')
    assert [n['title'] for n in catalog] == [
        'Database Software', 'libvirt Driver Options for Images']
    assert catalog[0]['properties'] == [{
        'name': 'sw_database_mysql_version', 'title': 'MySQL \u203a Version',
        'description': '', 'type': 'string', 'enum': [], 'default': ''}]
    assert [(p['name'], p['enum'], p['default'])
            for p in catalog[1]['properties']] == [
        ('hw_disk_bus', ['scsi', 'virtio'], ''),
        ('hw_qemu_guest_agent', [], 'false')]
    # Read once a while, not at each opening of the form.
    assert 'Common Operating System Properties' in [
        n['title'] for n in again]


def test_a_catalog_glance_cannot_give_now_is_none():
    request = mock.Mock(**{'user.project_id': 'p-down'})
    with mock.patch.object(api_glance.horizon_glance,
                           'metadefs_namespace_full_list',
                           side_effect=glance_exc.HTTPServiceUnavailable()):
        assert api_glance.metadata_catalog(request) is None


def test_images_from_a_source_are_asked_by_their_property():
    found = [mock.Mock(id='a'), mock.Mock(id='b')]
    with mock.patch.object(api_glance.horizon_glance, 'image_list_detailed',
                           return_value=(found, False, False)) as listed:
        assert api_glance.images_from_source('request', 'sha256:ab') == found
    listed.assert_called_once_with('request', filters={
        'image_importer_source_checksum': 'sha256:ab', 'status': 'active'})


def test_identical_images_are_the_others_with_the_same_hash():
    image = mock.Mock(id='new', os_hash_value='cafe')
    others = [mock.Mock(id='new'), mock.Mock(id='old')]
    with mock.patch.object(api_glance.horizon_glance, 'image_get',
                           return_value=image), \
            mock.patch.object(api_glance.horizon_glance,
                              'image_list_detailed',
                              return_value=(others, False, False)) as listed:
        assert [i.id for i in api_glance.identical_images(
            'request', 'new')] == ['old']
    listed.assert_called_once_with('request', filters={
        'os_hash_value': 'cafe', 'status': 'active'})
