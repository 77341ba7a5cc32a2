"""The fetcher: address rules, redirects, resume, bounds.

A real loopback HTTP server (tools/fileserver.py) serves the files and
misbehaves on request; a stub resolver stands in for DNS.
"""

import socket
import subprocess
import time

import pytest

from image_importer.engine.errors import ImportFailure
from image_importer.engine import fetch
from image_importer import failures
from tools.fileserver import Fault
from tools.fileserver import FileServer
from tools.fileserver import ForwardProxy

SIZE = 3_000_000
BODY = bytes(range(256)) * (SIZE // 256) + b'x' * (SIZE % 256)
NO_WAIT = fetch.Resilience(backoff=0)


@pytest.fixture
def server(tmp_path):
    (tmp_path / 'image.img').write_bytes(BODY)
    with FileServer(tmp_path) as srv:
        yield srv


def allowing(server):
    policy = fetch.UrlPolicy(allow=('127.0.0.1:%d' % server.port,))
    return fetch.Fetcher(policy)


def read_all(download):
    return b''.join(iter(lambda: download.read(65536), b''))


@pytest.fixture
def no_connections(monkeypatch):
    """Fail the test if anything tries to open a connection."""
    def refuse(*args, **kwargs):
        raise AssertionError('a connection was attempted')
    monkeypatch.setattr(fetch.Fetcher, '_pool', refuse)


@pytest.fixture
def resolver(monkeypatch):
    """A stub DNS: ``resolver['name'] = ['address', ...]``."""
    answers = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror('no such host')
        return [(socket.AF_INET6 if ':' in a else socket.AF_INET,
                 socket.SOCK_STREAM, 6, '', (a, port)) for a in answers[host]]
    monkeypatch.setattr(socket, 'getaddrinfo', getaddrinfo)
    return answers


def test_download_streams_the_whole_file(server):
    download = fetch.Download(allowing(server), server.url('image.img'))

    assert read_all(download) == BODY
    assert (download.done, download.total, download.resumes) == (
        SIZE, SIZE, 0)


def test_404_names_the_status(server):
    with pytest.raises(ImportFailure) as exc:
        fetch.Download(allowing(server), server.url('missing.img'))
    assert exc.value.code == 'http_status'
    assert exc.value.params == {'status': 404, 'reason': 'Not Found'}


def test_loopback_is_refused_before_connecting(server):
    fetcher = fetch.Fetcher(fetch.UrlPolicy())
    with pytest.raises(ImportFailure) as exc:
        fetch.Download(fetcher, server.url('image.img'))
    assert exc.value.code == 'address_not_allowed'
    assert server.requests == []


def test_allowlist_port_is_enforced(server):
    fetcher = fetch.Fetcher(fetch.UrlPolicy(allow=('127.0.0.1:1',)))
    with pytest.raises(ImportFailure) as exc:
        fetcher.open(server.url('image.img'))
    assert exc.value.code == 'address_not_allowed'
    assert server.requests == []


def test_redirect_to_loopback_is_refused(server, tmp_path):
    server.faults['/go.img'] = Fault(
        redirect='http://127.0.0.1:%d/image.img' % server.port)
    # Only the redirecting URL's port is allowed, through a host name.
    policy = fetch.UrlPolicy(allow=('localhost:%d' % server.port,))
    other = FileServer(tmp_path)
    with other:
        server.faults['/go.img'] = Fault(redirect=other.url('image.img'))
        with pytest.raises(ImportFailure) as exc:
            fetch.Fetcher(policy).open(
                'http://localhost:%d/go.img' % server.port)
    assert exc.value.code == 'address_not_allowed'
    assert other.requests == []


def test_redirects_are_followed_and_limited(server):
    server.faults['/a.img'] = Fault(redirect='/image.img')
    download = fetch.Download(allowing(server), server.url('a.img'))
    assert read_all(download) == BODY
    assert download.url.endswith('/image.img')

    for n in range(7):
        server.faults['/loop%d.img' % n] = Fault(redirect='/loop%d.img'
                                                 % (n + 1))
    with pytest.raises(ImportFailure) as exc:
        allowing(server).open(server.url('loop0.img'))
    assert exc.value.code == 'too_many_redirects'


@pytest.mark.parametrize('url', ['ftp://example.org/a.img',
                                 'file:///etc/passwd',
                                 'gopher://example.org/'])
def test_other_schemes_are_refused(url, no_connections):
    with pytest.raises(ImportFailure) as exc:
        fetch.Fetcher(fetch.UrlPolicy()).open(url)
    assert exc.value.code == 'scheme_not_allowed'


@pytest.mark.parametrize('host', [
    '169.254.169.254', '[fe80::a9fe:a9fe]', '[::ffff:169.254.169.254]',
    '[::ffff:a9fe:a9fe]', '[64:ff9b::a9fe:a9fe]', '127.0.0.1', '[::1]',
    '0.0.0.0', '[::]', '10.0.0.1', '192.168.1.1', '172.16.0.1',
    '100.64.0.1', 'localhost', 'localhost.',
])
def test_internal_addresses_are_refused_without_a_connection(
        host, no_connections):
    with pytest.raises(ImportFailure) as exc:
        fetch.Fetcher(fetch.UrlPolicy()).open('http://%s/x.img' % host)
    assert exc.value.code == 'address_not_allowed'


@pytest.mark.parametrize('host', ['2852039166', '0xa9fea9fe',
                                  '0251.0376.0251.0376', '169.254.43518',
                                  '0x7f.1', '127.1'])
def test_numeric_host_forms_are_refused(host, no_connections):
    with pytest.raises(ImportFailure) as exc:
        fetch.Fetcher(fetch.UrlPolicy()).open('http://%s/x.img' % host)
    assert exc.value.code == 'invalid_host'


def test_dns_answer_with_private_address_is_refused(resolver,
                                                    no_connections):
    resolver['images.example.org'] = ['10.20.30.40']
    with pytest.raises(ImportFailure) as exc:
        fetch.Fetcher(fetch.UrlPolicy()).open(
            'https://images.example.org/x.img')
    assert exc.value.code == 'address_not_allowed'
    # A name's address is not told: it would map internal names.
    assert exc.value.params == {'host': 'images.example.org', 'port': 443}
    assert '10.20' not in failures.describe(exc.value.code,
                                            exc.value.params)


def test_a_typed_address_that_is_refused_is_named(no_connections):
    with pytest.raises(ImportFailure) as exc:
        fetch.Fetcher(fetch.UrlPolicy()).open('http://10.1.2.3/x.img')
    assert exc.value.params == {'host': '10.1.2.3', 'port': 80,
                                'address': '10.1.2.3'}


@pytest.mark.parametrize('host', [
    '[2002:a9fe:a9fe::1]',          # 6to4 of 169.254.169.254
    '[2002:7f00:1::1]',             # 6to4 of 127.0.0.1
    '[::a9fe:a9fe]',                # IPv4-compatible
    '[::7f00:1]',
    '[::ffff:0:a9fe:a9fe]',         # SIIT
    '[::ffff:0:a00:1]',
    '[64:ff9b:1::a9fe:a9fe]',       # NAT64, local-use prefix
    '[fec0::1]',                    # site-local
    '[2001:0:4136:e378:8000:63bf:3fff:fdd2]',   # Teredo
    '[2001:db8::1]', '[ff02::1]', '[100::1]', '[fc00::1]',
    '192.0.2.1', '198.51.100.1', '203.0.113.1', '198.18.0.1',
    '192.0.0.1', '224.0.0.1', '240.0.0.1', '255.255.255.255',
    '192.88.99.1',
])
def test_every_non_public_form_is_refused(host, no_connections):
    with pytest.raises(ImportFailure) as exc:
        fetch.Fetcher(fetch.UrlPolicy()).open('http://%s/x.img' % host)
    assert exc.value.code == 'address_not_allowed'


@pytest.mark.parametrize('address', ['8.8.8.8', '2606:4700:4700::1111',
                                     '::ffff:8.8.8.8', '64:ff9b::808:808'])
def test_public_addresses_and_their_ipv6_forms_are_allowed(address):
    assert fetch.UrlPolicy().permits('mirror.example', address, 443)


def test_the_deny_list_holds_whatever_is_global_says(monkeypatch):
    # As in Python releases whose is_global let these through.
    monkeypatch.setattr(fetch.ipaddress.IPv6Address, 'is_global',
                        property(lambda self: True))
    monkeypatch.setattr(fetch.ipaddress.IPv4Address, 'is_global',
                        property(lambda self: True))
    policy = fetch.UrlPolicy()
    for address in ('fec0::1', '64:ff9b:1::a9fe:a9fe', '2002:a9fe:a9fe::1',
                    '::a9fe:a9fe', '::ffff:0:a9fe:a9fe', '10.0.0.1'):
        assert not policy.permits('x', address, 80), address


def test_unknown_host_is_named(resolver, no_connections):
    with pytest.raises(ImportFailure) as exc:
        fetch.Fetcher(fetch.UrlPolicy()).open('https://nowhere.example/x')
    assert exc.value.params == {'host': 'nowhere.example'}


def test_byte_cap_stops_the_download(server):
    with pytest.raises(ImportFailure) as exc:
        fetch.Download(allowing(server), server.url('image.img'),
                       max_bytes=1000)
    assert exc.value.code == 'too_large'


def test_short_content_length_is_all_that_is_read(server):
    server.faults['/image.img'] = Fault(length=10)
    download = fetch.Download(allowing(server), server.url('image.img'),
                              max_bytes=100_000)
    assert read_all(download) == BODY[:10]


def test_body_without_length_cannot_pass_the_cap(server):
    server.faults['/image.img'] = Fault(length=-1)
    download = fetch.Download(allowing(server), server.url('image.img'),
                              max_bytes=100_000)
    assert download.total is None
    with pytest.raises(ImportFailure) as exc:
        read_all(download)
    assert exc.value.code == 'too_large'
    assert download.done <= 100_000 + 65536


def test_dropped_connection_resumes_with_range(server):
    server.faults['/image.img'] = Fault(drop_after=1_000_000, drops=2)
    download = fetch.Download(allowing(server), server.url('image.img'),
                              resilience=NO_WAIT)

    assert read_all(download) == BODY
    assert download.resumes == 2
    ranges = [r for _m, _p, r in server.requests if r]
    assert ranges[0] == 'bytes=1000000-'


def test_drop_without_range_support_fails_clearly(server):
    server.faults['/image.img'] = Fault(drop_after=1_000_000, ranges=False)
    download = fetch.Download(allowing(server), server.url('image.img'),
                              resilience=NO_WAIT)
    with pytest.raises(ImportFailure) as exc:
        read_all(download)
    assert exc.value.code == 'connection_lost'
    assert exc.value.params['done'] == 1_000_000


def test_retries_are_bounded(server):
    server.faults['/image.img'] = Fault(drop_after=1_000_000, drops=99)
    download = fetch.Download(
        allowing(server), server.url('image.img'),
        resilience=fetch.Resilience(retries=2, backoff=0))
    with pytest.raises(ImportFailure) as exc:
        read_all(download)
    assert exc.value.code == 'connection_lost'
    assert download.resumes == 2


def test_changed_file_is_not_stitched(server, tmp_path):
    server.faults['/image.img'] = Fault(drop_after=1_000_000)
    download = fetch.Download(allowing(server), server.url('image.img'),
                              resilience=NO_WAIT)
    download.read(500_000)
    (tmp_path / 'image.img').write_bytes(b'new' * 2_000_000)
    with pytest.raises(ImportFailure) as exc:
        read_all(download)
    assert exc.value.code == 'source_changed'


def test_too_slow_source_fails(server):
    now = [0.0]
    download = fetch.Download(
        allowing(server), server.url('image.img'),
        resilience=fetch.Resilience(min_rate=10 ** 9, window=1.0),
        clock=lambda: now[0])
    download.read(1000)
    now[0] = 5.0
    with pytest.raises(ImportFailure) as exc:
        download.read(1000)
    assert exc.value.code == 'too_slow'


@pytest.mark.parametrize('resilience, code', [
    (fetch.Resilience(min_rate=1000, window=1.0), 'too_slow'),
    (fetch.Resilience(deadline=1.0, min_rate=0), 'deadline_exceeded'),
])
def test_a_trickling_source_cannot_hold_a_read(tmp_path, resilience, code):
    # 100 bytes a second, each piece well within the read timeout: one
    # read of a megabyte would wait for it for hours.
    (tmp_path / 'slow.img').write_bytes(bytes(100_000))
    with FileServer(tmp_path, rate=100) as slow:
        download = fetch.Download(allowing(slow), slow.url('slow.img'),
                                  resilience=resilience)
        started = time.monotonic()
        with pytest.raises(ImportFailure) as exc:
            download.read(1024 * 1024)
        took = time.monotonic() - started
        download.close()
    assert exc.value.code == code
    assert took < 5, took


def test_a_slow_source_is_handed_on_at_least_every_second(tmp_path):
    # 2,000 bytes a second: a megabyte would take nine minutes to fill
    # one read; the caller (who reports progress, renewing the job's
    # lease and seeing a cancel) gets what arrived every second or so.
    (tmp_path / 'slow.img').write_bytes(bytes(1_000_000))
    with FileServer(tmp_path, rate=2000) as slow:
        download = fetch.Download(allowing(slow), slow.url('slow.img'),
                                  resilience=fetch.Resilience(min_rate=0))
        gaps = []
        for _ in range(3):
            started = time.monotonic()
            data = download.read(1024 * 1024)
            gaps.append(time.monotonic() - started)
            assert 0 < len(data) < 10_000
        download.close()
    assert max(gaps) < 3, gaps


def test_deadline_ends_the_download(server):
    now = [0.0]
    download = fetch.Download(
        allowing(server), server.url('image.img'),
        resilience=fetch.Resilience(deadline=60, min_rate=0),
        clock=lambda: now[0])
    now[0] = 61.0
    with pytest.raises(ImportFailure) as exc:
        download.read(1000)
    assert exc.value.code == 'deadline_exceeded'


def test_a_header_trickle_cannot_hold_the_request(server):
    # A header line every 0.2 s, each well within the read timeout: the
    # answer never completes, and the request ends at the wall-clock
    # bound (connect + read timeout), not after hours.
    server.faults['/image.img'] = Fault(header_trickle=0.2)
    fetcher = fetch.Fetcher(fetch.UrlPolicy(
        allow=('127.0.0.1:%d' % server.port,), connect_timeout=1,
        read_timeout=1))
    started = time.monotonic()
    with pytest.raises(ImportFailure) as exc:
        fetch.Download(fetcher, server.url('image.img'))
    took = time.monotonic() - started
    assert exc.value.code == 'no_answer'
    assert exc.value.params == {'host': '127.0.0.1', 'seconds': 2}
    assert 1.5 < took < 5, took
    assert 'within 2 seconds' in failures.describe('no_answer',
                                                   exc.value.params)


def test_the_deadline_closes_a_silent_connection(server):
    # The server sends a little and then nothing, the connection open,
    # with a read timeout of a minute: the deadline shuts the socket
    # at its time instead of after the receive's timeout.
    server.faults['/image.img'] = Fault(stall_after=1000)
    fetcher = fetch.Fetcher(fetch.UrlPolicy(
        allow=('127.0.0.1:%d' % server.port,), read_timeout=60))
    download = fetch.Download(
        fetcher, server.url('image.img'),
        resilience=fetch.Resilience(deadline=1.5, min_rate=0))
    started = time.monotonic()
    with pytest.raises(ImportFailure) as exc:
        read_all(download)
    took = time.monotonic() - started
    download.close()
    assert exc.value.code == 'deadline_exceeded'
    assert took < 4, took


def test_a_finished_download_leaves_no_alarm_running(server):
    download = fetch.Download(allowing(server), server.url('image.img'))
    alarm = download._deadline._timer
    assert alarm.is_alive()
    assert read_all(download) == BODY
    download.close()
    alarm.join(2)
    assert not alarm.is_alive()


def test_credentials_go_only_to_the_original_host(server, tmp_path):
    mirror_root = tmp_path / 'mirror'
    mirror_root.mkdir()
    (mirror_root / 'image.img').write_bytes(BODY)
    with FileServer(mirror_root) as mirror:
        server.faults['/go.img'] = Fault(redirect=mirror.url('image.img'))
        # The mirror drops the connection twice: the download resumes
        # there, where it was redirected.
        mirror.faults['/image.img'] = Fault(drop_after=1_000_000, drops=2)
        policy = fetch.UrlPolicy(allow=('127.0.0.1',))
        download = fetch.Download(fetch.Fetcher(policy),
                                  server.url('go.img'),
                                  credentials='bob:secret',
                                  resilience=NO_WAIT)
        assert read_all(download) == BODY
        assert download.resumes == 2

    assert [auth for _path, auth in server.authorizations] == [
        'Basic Ym9iOnNlY3JldA==']
    assert [auth for _path, auth in mirror.authorizations] == [None] * 3


@pytest.mark.parametrize('address', [
    '127.0.0.1', '10.1.2.3', '169.254.169.254', '100.64.0.1', '0.0.0.0',
    '::1', '::', 'fe80::a9fe:a9fe', '::ffff:127.0.0.1', '64:ff9b::a9fe:a9fe',
    '192.0.0.1', '198.18.0.1', 'fc00::1',
])
def test_non_global_addresses_are_not_permitted(address):
    assert not fetch.UrlPolicy().permits('h', address, 80)


def test_global_address_on_allowed_port_is_permitted():
    policy = fetch.UrlPolicy()
    assert policy.permits('h', '8.8.8.8', 443)
    assert not policy.permits('h', '8.8.8.8', 22)


def test_allowlist_networks_and_names():
    policy = fetch.UrlPolicy(allow=('10.0.0.0/8', 'mirror.internal:8080',
                                    '[fd00::1]:80'))
    assert policy.permits('x', '10.1.2.3', 9999)
    assert policy.permits('mirror.internal', '192.168.0.5', 8080)
    assert not policy.permits('mirror.internal', '192.168.0.5', 80)
    assert policy.permits('x', 'fd00::1', 80)
    assert not policy.permits('x', 'fd00::2', 80)


def test_split_credentials_removes_userinfo():
    assert fetch.split_credentials('https://bob:p%40ss@h.example:8443/a') == (
        'https://h.example:8443/a', 'bob:p@ss')
    assert fetch.split_credentials('https://h.example/a') == (
        'https://h.example/a', None)


def test_probe_reads_the_start_of_the_file_with_one_ranged_get(server):
    server.faults['/go.img'] = Fault(redirect='/image.img')

    found = fetch.probe(allowing(server), server.url('go.img'),
                        head_bytes=1000)

    assert (found.size, found.file_name, found.resumable) == (
        SIZE, 'image.img', True)
    assert found.url.endswith('/image.img')
    assert (found.head, found.complete) == (BODY[:1000], False)
    assert [(m, r) for m, _p, r in server.requests] == [
        ('GET', 'bytes=0-999'), ('GET', 'bytes=0-999')]


def test_probe_needs_no_head_request(server):
    """URLs signed for GET only (S3, Swift temporary URLs) refuse HEAD."""
    server.faults['/image.img'] = Fault(head=False)

    found = fetch.probe(allowing(server), server.url('image.img'))

    assert (found.size, found.head, found.complete) == (SIZE, BODY, True)


def test_probe_of_a_server_ignoring_ranges_reads_only_the_start(server):
    server.faults['/image.img'] = Fault(ranges=False)

    found = fetch.probe(allowing(server), server.url('image.img'),
                        head_bytes=100)

    assert (found.size, found.head, found.resumable) == (
        SIZE, BODY[:100], False)


def test_probe_of_a_silent_server_gives_what_came_in_time(server):
    server.faults['/image.img'] = Fault(stall_after=100)
    policy = fetch.UrlPolicy(allow=('127.0.0.1:%d' % server.port,),
                             connect_timeout=0.5, read_timeout=0.5)
    started = time.monotonic()

    found = fetch.probe(fetch.Fetcher(policy), server.url('image.img'))

    assert time.monotonic() - started < 5
    assert (found.head, found.complete) == (BODY[:100], False)


def test_probe_follows_the_same_address_rules(no_connections):
    with pytest.raises(ImportFailure) as exc:
        fetch.probe(fetch.Fetcher(fetch.UrlPolicy()),
                    'http://169.254.169.254/latest/meta-data/')
    assert exc.value.code == 'address_not_allowed'


def test_operator_proxy_is_asked_for_the_checked_address(server):
    with ForwardProxy() as proxy:
        policy = fetch.UrlPolicy(allow=('localhost:%d' % server.port,),
                                 proxy=proxy.url)
        download = fetch.Download(fetch.Fetcher(policy),
                                  'http://localhost:%d/image.img'
                                  % server.port)
        assert read_all(download) == BODY
    # The proxy never resolves the name: it gets the pinned address.
    assert proxy.requests == ['http://127.0.0.1:%d/image.img' % server.port]


def test_environment_proxy_is_ignored(server, monkeypatch):
    monkeypatch.setenv('http_proxy', 'http://127.0.0.1:9')
    monkeypatch.setenv('HTTP_PROXY', 'http://127.0.0.1:9')
    download = fetch.Download(allowing(server), server.url('image.img'))
    assert read_all(download) == BODY


@pytest.fixture
def tls_server(tmp_path):
    """https on 127.0.0.1 with a self-signed certificate for 'localhost'."""
    cert, key = str(tmp_path / 'cert.pem'), str(tmp_path / 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048',
                    '-nodes', '-days', '1', '-subj', '/CN=localhost',
                    '-addext', 'subjectAltName=DNS:localhost',
                    '-keyout', key, '-out', cert],
                   check=True, capture_output=True)
    root = tmp_path / 'files'
    root.mkdir()
    (root / 'image.img').write_bytes(BODY)
    with FileServer(root, tls=(cert, key)) as srv:
        srv.cert = cert
        yield srv


def tls_policy(server, **fields):
    return fetch.UrlPolicy(allow=('localhost:%d' % server.port,), **fields)


def test_tls_is_verified_by_default(tls_server):
    with pytest.raises(ImportFailure) as exc:
        fetch.Fetcher(tls_policy(tls_server)).open(
            tls_server.url('image.img', host='localhost'))
    assert exc.value.code == 'tls_error'


def test_operator_ca_bundle_verifies_the_name_on_the_pinned_address(
        tls_server):
    fetcher = fetch.Fetcher(tls_policy(tls_server, ca_bundle=tls_server.cert))
    download = fetch.Download(fetcher,
                              tls_server.url('image.img', host='localhost'))
    assert read_all(download) == BODY


def test_certificate_for_another_name_is_refused(tls_server):
    # 127.0.0.1 is not the name the certificate was issued for.
    policy = fetch.UrlPolicy(allow=('127.0.0.1:%d' % tls_server.port,),
                             ca_bundle=tls_server.cert)
    with pytest.raises(ImportFailure) as exc:
        fetch.Fetcher(policy).open(tls_server.url('image.img'))
    assert exc.value.code == 'tls_error'
