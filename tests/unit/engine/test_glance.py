"""Uploads: retried when Glance or the network fails for a moment, the
image of an earlier run used again, nothing left behind otherwise.

A small in-memory Glance stands in here; tests/integration/test_faults.py
does the same against the real Glance behind a faulty proxy.
"""

import hashlib
import types

from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ks_exc
import pytest

from image_importer.engine.errors import ImportFailure
from image_importer.engine import glance


class FakeImages:
    """``client.images`` with scripted upload failures."""

    def __init__(self, failures=(), statuses=None):
        self.failures = list(failures)
        self.status = dict(statuses or {})
        self.data = {}
        self.created = []
        self.deleted = []
        self.pieces = []

    def create(self, **meta):
        image_id = 'img-%d' % (len(self.created) + 1)
        self.created.append(image_id)
        self.status[image_id] = 'queued'
        return types.SimpleNamespace(id=image_id)

    def upload(self, image_id, reader, image_size=None):
        assert self.status[image_id] == 'queued'
        body = reader.read(3)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, tuple):
                # A failure after which Glance left the image so.
                failure, self.status[image_id] = failure
                if self.status[image_id] == 'active':
                    body += reader.read(1024 * 1024)
                    self.data[image_id] = body
            raise failure
        # As glanceclient reads a body: 1 MiB asked, each read one chunk.
        while piece := reader.read(1024 * 1024):
            self.pieces.append(len(piece))
            body += piece
        self.data[image_id] = self.corrupt(body)
        self.status[image_id] = 'active'

    @staticmethod
    def corrupt(body):
        return body

    def get(self, image_id):
        if image_id not in self.status:
            raise glance_exc.HTTPNotFound()
        data = self.data.get(image_id)
        return types.SimpleNamespace(
            id=image_id, status=self.status[image_id], os_hash_algo='sha512',
            os_hash_value=hashlib.sha512(data).hexdigest() if data else None)

    def delete(self, image_id):
        self.deleted.append(image_id)
        self.status.pop(image_id, None)


def upload(images, path, **kwargs):
    client = types.SimpleNamespace(images=images)
    created = []
    waits = []
    image_id = glance.upload(client, {'name': 'x'}, str(path), 6,
                             lambda done, total: None, created.append,
                             sleep=waits.append, **kwargs)
    return image_id, created, waits


@pytest.fixture
def data(tmp_path):
    path = tmp_path / 'disk'
    path.write_bytes(b'abcdef')
    return path


def test_the_file_is_sent_in_pieces_of_at_most_upload_piece(tmp_path):
    body = bytes(range(256)) * (3 * glance.UPLOAD_PIECE // 256) + b'end'
    path = tmp_path / 'disk'
    path.write_bytes(body)
    images = FakeImages()
    client = types.SimpleNamespace(images=images)

    image_id = glance.upload(client, {'name': 'x'}, str(path), len(body),
                             lambda done, total: None, lambda _id: None)

    assert images.data[image_id] == body
    # The fake reads 3 bytes first, then asks for 1 MiB at a time.
    assert images.pieces == [glance.UPLOAD_PIECE] * 3


@pytest.mark.parametrize('failure', [
    glance_exc.HTTPServiceUnavailable(),
    glance_exc.HTTPBadGateway(),
    ks_exc.ConnectFailure('reset by peer'),
])
def test_a_passing_failure_is_tried_again_with_backoff(data, failure):
    images = FakeImages(failures=[failure, failure])

    image_id, created, waits = upload(images, data, retries=3, delay=2)

    assert images.data == {image_id: b'abcdef'}
    assert created == [image_id] and images.deleted == []
    assert waits == [2, 4]


def test_a_500_glance_recovered_from_is_sent_again_into_the_image(data):
    # Glance's own error (its database busy at the end of the upload),
    # after which it put the image back to queued.
    images = FakeImages(failures=[(glance_exc.HTTPInternalServerError(),
                                   'queued')])

    image_id, created, waits = upload(images, data, retries=3, delay=2)

    assert images.data == {image_id: b'abcdef'}
    assert created == [image_id] and images.deleted == []
    assert waits == [2]


@pytest.mark.parametrize('left', ['saving', 'killed'])
def test_a_500_that_left_the_image_unusable_goes_into_a_new_one(data,
                                                                left):
    images = FakeImages(failures=[(glance_exc.HTTPInternalServerError(),
                                   left)])

    image_id, created, _waits = upload(images, data, retries=3, delay=2)

    assert created == ['img-1', 'img-2'] == images.created
    assert image_id == 'img-2' and images.deleted == ['img-1']
    assert images.data == {'img-2': b'abcdef'}


def test_a_500_after_glance_stored_the_image_is_no_failure(data):
    images = FakeImages(failures=[(glance_exc.HTTPInternalServerError(),
                                   'active')])

    image_id, created, _waits = upload(images, data, retries=3, delay=2)

    assert created == [image_id] and images.deleted == []
    assert images.data == {image_id: b'abcdef'}


def test_the_last_failure_deletes_the_image_and_says_why(data):
    images = FakeImages(failures=[glance_exc.HTTPServiceUnavailable()] * 3)

    with pytest.raises(ImportFailure) as caught:
        upload(images, data, retries=2, delay=1)

    assert caught.value.code == 'glance_error'
    assert caught.value.params['status'] == 503
    assert images.deleted == images.created == ['img-1']


def test_too_large_is_not_retried(data):
    images = FakeImages(failures=[glance_exc.HTTPOverLimit(
        'Image exceeds the storage quota')])

    with pytest.raises(ImportFailure) as caught:
        upload(images, data, retries=3)

    assert caught.value.code == 'glance_too_large'
    assert 'storage quota' in caught.value.params['detail']
    assert images.deleted == ['img-1']


def test_the_image_of_an_earlier_run_is_used_again(data):
    images = FakeImages(statuses={'earlier': 'queued'})

    image_id, created, _waits = upload(images, data, image_id='earlier')

    assert image_id == 'earlier' and created == []
    assert images.created == [] and images.data == {'earlier': b'abcdef'}


def test_an_image_its_job_cannot_record_is_deleted_at_once(data):
    """Cancelled between Glance's answer and the job's record of the new
    image (recording it raises), the image is deleted, not left behind
    with no job that names it."""
    images = FakeImages()
    client = types.SimpleNamespace(images=images)

    class Cancelled(Exception):
        pass

    def record(image_id):
        raise Cancelled(image_id)

    with pytest.raises(Cancelled):
        glance.create_image(client, {'name': 'x'}, record)
    assert images.created == ['img-1'] and images.deleted == ['img-1']
    assert images.status == {}


@pytest.mark.parametrize('status', ['active', 'killed', None])
def test_an_earlier_image_that_cannot_take_data_is_replaced(data, status):
    images = FakeImages(statuses={'earlier': status} if status else {})

    image_id, created, _waits = upload(images, data, image_id='earlier')

    assert created == [image_id] == ['img-1']
    assert 'earlier' not in images.status


def test_data_glance_stored_differently_fails_and_is_deleted(data):
    images = FakeImages()
    images.corrupt = lambda body: body[:-1] + b'X'

    with pytest.raises(ImportFailure) as caught:
        upload(images, data)

    assert caught.value.code == 'glance_hash_mismatch'
    assert caught.value.params['sent'] == hashlib.sha512(
        b'abcdef').hexdigest()
    assert images.deleted == ['img-1']


def test_an_image_glance_took_whole_stands_when_the_authority_ran_out(data):
    images = FakeImages()
    real_get = images.get

    def expired_after_upload(image_id):
        if images.status.get(image_id) == 'active':
            raise glance_exc.HTTPUnauthorized()
        return real_get(image_id)

    images.get = expired_after_upload

    image_id, _created, _waits = upload(images, data)

    assert images.status[image_id] == 'active' and images.deleted == []


class ProtectedImages(FakeImages):
    """Glance's rule: a protected image cannot be deleted (403)."""

    def __init__(self):
        super().__init__()
        self.protected = set()
        self.updates = []

    def get(self, image_id):
        image = super().get(image_id)
        image.protected = image_id in self.protected
        return image

    def update(self, image_id, **fields):
        self.updates.append((image_id, fields))
        if fields.get('protected') is False:
            self.protected.discard(image_id)

    def delete(self, image_id):
        if image_id in self.protected:
            raise glance_exc.HTTPForbidden('Image is protected')
        super().delete(image_id)


def test_deleting_an_unfinished_protected_image_lifts_the_protection():
    images = ProtectedImages()
    image_id = images.create().id
    images.protected.add(image_id)

    assert glance.delete_image(types.SimpleNamespace(images=images),
                               image_id) is True

    assert images.updates == [(image_id, {'protected': False})]
    assert images.deleted == [image_id]


def test_an_image_already_gone_counts_as_deleted():
    images = ProtectedImages()

    def gone(image_id):
        raise glance_exc.HTTPNotFound()

    images.delete = gone
    assert glance.delete_image(types.SimpleNamespace(images=images),
                               'img-9') is True


def test_an_image_that_cannot_be_deleted_is_reported_not_raised():
    images = ProtectedImages()
    image_id = images.create().id

    def refused(image_id):
        raise glance_exc.HTTPForbidden('policy says no')

    images.delete = refused
    assert glance.delete_image(types.SimpleNamespace(images=images),
                               image_id) is False
    assert images.updates == []


class RetiringImages:
    """``client.images`` for retirement: what exists, and what Glance
    refuses to delete."""

    def __init__(self, refuse=None, **images):
        self.images = images      # id -> protected
        self.refuse = refuse
        self.updated = {}
        self.deleted = []

    def get(self, image_id):
        if image_id not in self.images:
            raise glance_exc.HTTPNotFound()
        return types.SimpleNamespace(id=image_id, os_hidden=False,
                                     protected=self.images[image_id])

    def update(self, image_id, **fields):
        self.updated[image_id] = fields

    def delete(self, image_id):
        if self.refuse:
            raise self.refuse
        self.deleted.append(image_id)


@pytest.mark.parametrize('images, delete, refuse, done', [
    ({'a': False}, False, None, glance.HIDDEN),
    ({'a': False}, True, None, glance.DELETED),
    ({'a': True}, True, None, glance.KEPT_PROTECTED),
    ({}, True, None, glance.GONE),
    # In use by a volume's clone: Glance answers 409.
    ({'a': False}, True, glance_exc.HTTPConflict(), glance.KEPT_IN_USE),
    ({'a': False}, True, glance_exc.HTTPForbidden(), glance.KEPT_REFUSED),
])
def test_retiring_an_image_says_what_was_done(images, delete, refuse, done):
    found = RetiringImages(refuse, **images)

    result = glance.retire_image(types.SimpleNamespace(images=found), 'a',
                                 delete=delete)

    assert result == done
    assert found.updated == ({'a': {'os_hidden': True}}
                             if done == glance.HIDDEN else {})
    assert found.deleted == (['a'] if done == glance.DELETED else [])
