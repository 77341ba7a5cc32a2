"""Finding the checksum files publishers put beside their images, in their
real layouts, from a real HTTP server."""

import hashlib
import time

import pytest

from image_importer.engine import fetch
from image_importer.engine import published
from tools.fileserver import Fault
from tools.fileserver import FileServer
from tools import publishers

IMAGE_BYTES = b'QFI\xfb' + b'\0' * 4092
SHA256 = hashlib.sha256(IMAGE_BYTES).hexdigest()
SHA512 = hashlib.sha512(IMAGE_BYTES).hexdigest()
OTHER = 'f' * 64


def gnu(hexdigest, name):
    return '%s *other.img\n%s *%s\n' % (OTHER, hexdigest, name)


def serve(tmp_path, layout, publisher, listing=True):
    publishers.publish(str(tmp_path / 'releases' / '1.0'), layout,
                       IMAGE_BYTES, publisher)
    return FileServer(tmp_path, listing=listing)


def serve_files(tmp_path, image, files, listing=True):
    folder = tmp_path / 'releases' / '1.0'
    folder.mkdir(parents=True)
    (folder / image).write_bytes(IMAGE_BYTES)
    for name, content in files.items():
        (folder / name).write_text(content)
    return FileServer(tmp_path, listing=listing)


def fetcher_for(server):
    return fetch.Fetcher(fetch.UrlPolicy(
        allow=('127.0.0.1:%d' % server.port,)))


def find(server, image):
    return published.find(fetcher_for(server),
                          server.url('releases/1.0/' + image))


@pytest.mark.parametrize('name', sorted(publishers.LAYOUTS))
def test_each_publishers_layout_is_found_from_the_listing(
        tmp_path, publisher, name):
    layout = publishers.LAYOUTS[name]
    with serve(tmp_path, layout, publisher) as server:
        found = find(server, layout.image)
        requests = len(server.requests)

    assert found.name == layout.checksum_name
    assert (found.expected.algorithm, found.expected.hexdigest) == (
        layout.algorithm, hashlib.new(layout.algorithm, IMAGE_BYTES,
                                      usedforsecurity=False).hexdigest())
    assert found.clearsigned == (layout.signature == publishers.CLEARSIGNED)
    assert (fetch.file_name(found.signature_url) or None) == (
        layout.signature_name)
    # The listing, the checksum file and its signature: nothing else.
    assert requests == 2 + (layout.signature_name is not None)


# The names tried without a listing (the others need one).
BLIND = ('ubuntu', 'debian', 'alma', 'opensuse', 'centos-stream', 'rocky',
         'alpine', 'cirros')


@pytest.mark.parametrize('name', BLIND)
def test_without_a_listing_the_usual_names_are_tried(
        tmp_path, publisher, name):
    layout = publishers.LAYOUTS[name]
    with serve(tmp_path, layout, publisher, listing=False) as server:
        found = find(server, layout.image)
        requests = len(server.requests)

    assert found.name == layout.checksum_name
    assert requests <= published.MAX_REQUESTS


def test_none_found_is_an_answer_within_the_bound(tmp_path):
    with serve_files(tmp_path, 'disk.qcow2', {}, listing=False) as server:
        found = find(server, 'disk.qcow2')
        requests = len(server.requests)

    assert found.expected is None
    # The folder (no listing), then each usual name once.
    assert requests == 1 + len(published.BLIND) <= published.MAX_REQUESTS
    assert found.tried[:2] == ('SHA256SUMS', 'SHA512SUMS')


def test_a_file_that_does_not_list_the_image_is_passed_over(tmp_path):
    files = {'SHA256SUMS': gnu(SHA256, 'another.img'),
             'SHA512SUMS': gnu(SHA512, 'disk.img')}
    with serve_files(tmp_path, 'disk.img', files) as server:
        found = find(server, 'disk.img')

    assert (found.name, found.expected.algorithm) == ('SHA512SUMS',
                                                      'sha512')


def test_a_lone_hash_counts_only_in_the_images_own_file(tmp_path):
    files = {'SHA256SUMS': OTHER + '\n',
             'disk.img.sha256': SHA256 + '\n'}
    with serve_files(tmp_path, 'disk.img', files) as server:
        found = find(server, 'disk.img')

    assert (found.name, found.expected.hexdigest) == ('disk.img.sha256',
                                                      SHA256)


def test_a_checksum_file_over_its_bound_is_skipped_and_said(tmp_path):
    big = gnu(SHA256, 'disk.img') + '# padding\n' * 200000
    with serve_files(tmp_path, 'disk.img', {'SHA256SUMS': big}) as server:
        found = find(server, 'disk.img')

    assert found.expected is None
    [(name, failure)] = found.skipped
    assert (name, failure.code) == ('SHA256SUMS', 'too_large')


def test_a_redirect_to_a_refused_address_is_not_followed(tmp_path):
    files = {'SHA256SUMS': gnu(SHA256, 'disk.img')}
    with serve_files(tmp_path, 'disk.img', files) as server:
        server.faults['/releases/1.0/SHA256SUMS'] = Fault(
            redirect='http://169.254.169.254/latest/SHA256SUMS')
        found = find(server, 'disk.img')

    assert found.expected is None
    [(name, failure)] = found.skipped
    assert (name, failure.code) == ('SHA256SUMS', 'address_not_allowed')


def test_a_signed_urls_query_never_reaches_the_checksum_files(tmp_path):
    files = {'SHA256SUMS': gnu(SHA256, 'disk.img')}
    with serve_files(tmp_path, 'disk.img', files) as server:
        found = published.find(fetcher_for(server), server.url(
            'releases/1.0/disk.img?X-Amz-Signature=secret'))
        paths = [r[1] for r in server.requests]

    assert found.name == 'SHA256SUMS'
    assert not any('secret' in path for path in paths)


def test_a_server_that_trickles_costs_no_more_than_the_deadline(
        tmp_path, monkeypatch):
    # Each answer stalls: the search stops at its deadline, not at ten
    # read timeouts.
    monkeypatch.setattr(published, 'DEADLINE', 2)
    files = {'SHA256SUMS': gnu(SHA256, 'disk.img')}
    with serve_files(tmp_path, 'disk.img', files, listing=False) as server:
        server.faults['/releases/1.0/SHA256SUMS'] = Fault(stall_after=10)
        server.faults['/releases/1.0/'] = Fault(stall_after=0)
        started = time.monotonic()
        found = find(server, 'disk.img')
        took = time.monotonic() - started

    assert found.expected is None
    assert took < 10


def test_a_folder_page_that_lists_nothing_is_no_listing(tmp_path):
    files = {'SHA256SUMS': gnu(SHA256, 'disk.img')}
    with serve_files(tmp_path, 'disk.img', files) as server:
        # The folder's URL answers with a page that links to no file.
        server.faults['/releases/1.0/'] = Fault(redirect=server.url(
            'home.html'))
        (tmp_path / 'home.html').write_text('<html><p>Welcome</p></html>')
        found = find(server, 'disk.img')

    assert found.name == 'SHA256SUMS'
