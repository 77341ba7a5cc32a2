"""The fetcher against a real loopback HTTP server."""

import io

import pytest

from image_importer.engine import fetch
from image_importer.engine.errors import ImportFailure
from tools.fileserver import FileServer


@pytest.fixture
def server(tmp_path):
    (tmp_path / 'image.img').write_bytes(b'x' * 3_000_000)
    with FileServer(tmp_path) as srv:
        yield srv


def allowing(server):
    policy = fetch.UrlPolicy(allow=('127.0.0.1:%d' % server.port,))
    return fetch.Fetcher(policy)


def test_download_streams_the_whole_file_with_progress(server):
    dest = io.BytesIO()
    seen = []

    done = fetch.download(allowing(server), server.url('image.img'), dest,
                          lambda d, t: seen.append((d, t)))

    assert done == 3_000_000
    assert dest.getvalue() == b'x' * 3_000_000
    assert seen[-1] == (3_000_000, 3_000_000)
    assert len(seen) >= 3


def test_404_names_the_status(server):
    with pytest.raises(ImportFailure) as exc:
        fetch.download(allowing(server), server.url('missing.img'),
                       io.BytesIO(), lambda d, t: None)
    assert exc.value.code == 'http_status'
    assert exc.value.params == {'status': 404, 'reason': 'File not found'}


def test_loopback_is_refused_before_connecting(server):
    fetcher = fetch.Fetcher(fetch.UrlPolicy())
    with pytest.raises(ImportFailure) as exc:
        fetch.download(fetcher, server.url('image.img'), io.BytesIO(),
                       lambda d, t: None)
    assert exc.value.code == 'address_not_allowed'
    assert server.requests == []


def test_allowlist_port_is_enforced(server):
    fetcher = fetch.Fetcher(fetch.UrlPolicy(allow=('127.0.0.1:1',)))
    with pytest.raises(ImportFailure) as exc:
        fetcher.open(server.url('image.img'))
    assert exc.value.code == 'address_not_allowed'
    assert server.requests == []


@pytest.mark.parametrize('url', ['ftp://example.org/a.img',
                                 'file:///etc/passwd'])
def test_other_schemes_are_refused(url):
    with pytest.raises(ImportFailure) as exc:
        fetch.Fetcher(fetch.UrlPolicy()).open(url)
    assert exc.value.code == 'scheme_not_allowed'


def test_byte_cap_stops_the_download(server):
    with pytest.raises(ImportFailure) as exc:
        fetch.download(allowing(server), server.url('image.img'),
                       io.BytesIO(), lambda d, t: None, max_bytes=1000)
    assert exc.value.code == 'too_large'


@pytest.mark.parametrize('address', [
    '127.0.0.1', '10.1.2.3', '169.254.169.254', '100.64.0.1', '0.0.0.0',
    '::1', '::', 'fe80::a9fe:a9fe', '::ffff:127.0.0.1', '64:ff9b::a9fe:a9fe',
])
def test_non_global_addresses_are_not_permitted(address):
    assert not fetch.UrlPolicy().permits('h', address, 80)


def test_global_address_on_allowed_port_is_permitted():
    policy = fetch.UrlPolicy()
    assert policy.permits('h', '8.8.8.8', 443)
    assert not policy.permits('h', '8.8.8.8', 22)


def test_split_credentials_removes_userinfo():
    assert fetch.split_credentials('https://bob:p%40ss@h.example:8443/a') == (
        'https://h.example:8443/a', 'bob:p@ss')
    assert fetch.split_credentials('https://h.example/a') == (
        'https://h.example/a', None)
