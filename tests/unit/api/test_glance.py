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
