"""Download a URL to a file, reaching only addresses the operator allows.

Each host name is resolved once; the address is checked against the
``UrlPolicy`` and the connection goes to that pinned address (urllib3 pools
take the address, with the name kept for TLS verification and the Host
header), so a second DNS answer can never steer the download elsewhere.
Every redirect is checked the same way.
"""

import base64
import dataclasses
import ipaddress
import logging
import posixpath
import re
import socket
import threading
import time
import urllib.parse

import urllib3

from image_importer.engine.errors import ImportFailure

LOG = logging.getLogger(__name__)

DEFAULT_PORTS = {'http': 80, 'https': 443}
REDIRECT_CODES = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 5
CHUNK_SIZE = 1024 * 1024
# What a probe reads of a file: enough for any format's header.
PROBE_BYTES = 4 * 1024 * 1024
_USERINFO = re.compile(r'//[^/?#]*@')

# Addresses a download never reaches unless the operator's allowlist names
# them, whatever ``ipaddress.is_global`` says in this Python release: not
# routable on the Internet, or tunnels and translations (checked again as
# the IPv4 address they carry).
DENIED = tuple(ipaddress.ip_network(net) for net in (
    '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8',
    '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24', '192.0.2.0/24',
    '192.88.99.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24',
    '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
    '::/128', '::1/128', '64:ff9b:1::/48', '100::/64', '2001::/23',
    '2001:db8::/32', '3fff::/20', '5f00::/16', 'fc00::/7', 'fe80::/10',
    'fec0::/10', 'ff00::/8',
))
# IPv6 forms that carry an IPv4 address in their last 32 bits.
IPV4_TAIL = tuple(ipaddress.ip_network(net) for net in (
    '::ffff:0:0/96',        # IPv4-mapped
    '::ffff:0:0:0/96',      # SIIT, IPv4-translated
    '64:ff9b::/96',         # NAT64, well-known prefix
    '::/96',                # IPv4-compatible (deprecated)
))
SIX_TO_FOUR = ipaddress.ip_network('2002::/16')


def file_name(url):
    """The file name a URL's path ends with (unquoted)."""
    return urllib.parse.unquote(posixpath.basename(
        urllib.parse.urlsplit(url).path))


def split_credentials(url):
    """Return ``(url_without_userinfo, 'user:password' or None)``;
    ``invalid_url`` for a URL urllib cannot take apart (a port out of
    range, an unclosed IPv6 bracket)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        # Shown to the user: never the password part.
        raise ImportFailure('invalid_url',
                            url=_USERINFO.sub('//', url)[:200])
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.hostname or ''
    if ':' in netloc:
        netloc = '[%s]' % netloc
    if port is not None:
        netloc = '%s:%d' % (netloc, port)
    clean = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    userinfo = '%s:%s' % (urllib.parse.unquote(parts.username or ''),
                          urllib.parse.unquote(parts.password or ''))
    return clean, userinfo


def _is_address(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _legacy_numeric(host):
    """Decimal, hex, octal or shortened IPv4 forms (``2130706433``,
    ``0x7f.1``, ``0177.0.0.1``, ``127.1``): resolvers accept them, people
    do not read them as addresses, so they are refused."""
    if _is_address(host):
        return False
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _unwrap(address):
    """The IPv4 address an IPv6 form carries (mapped, translated, NAT64,
    IPv4-compatible, 6to4), or the address itself."""
    if address.version == 6:
        if any(address in net for net in IPV4_TAIL) and int(address) > 1:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address in SIX_TO_FOUR:
            return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return address


def is_public(address):
    """Whether ``address`` (and any IPv4 address it carries) is a public
    Internet address: global, and on no deny list."""
    for each in {address, _unwrap(address)}:
        if not each.is_global or any(
                each.version == net.version and each in net
                for net in DENIED):
            return False
    return True


@dataclasses.dataclass(frozen=True)
class AllowEntry:
    """One operator allowlist entry: a host name or network, maybe a port."""

    host: str = ''
    network: object = None
    port: int | None = None

    @classmethod
    def parse(cls, text):
        text = text.strip()
        port = None
        if text.startswith('['):
            host, _, rest = text[1:].partition(']')
            if rest.startswith(':'):
                port = int(rest[1:])
        elif text.count(':') == 1:
            host, port_text = text.split(':')
            port = int(port_text)
        else:
            host = text
        try:
            return cls(network=ipaddress.ip_network(host, strict=False),
                       port=port)
        except ValueError:
            return cls(host=host.lower().rstrip('.'), port=port)

    def matches(self, host, address, port):
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return (address.version == self.network.version and
                    address in self.network)
        return host == self.host


@dataclasses.dataclass(frozen=True)
class UrlPolicy:
    """Which URLs a job may download from.

    A public (globally routable) address is allowed on ``ports``; any other
    address only when an ``allow`` entry names it (a host name or a network,
    optionally with a port), e.g. ``('10.0.0.0/8', 'mirror.example:8080')``.
    """

    schemes: tuple = ('http', 'https')
    ports: tuple = (80, 443)
    allow: tuple = ()
    ca_bundle: str | None = None
    # An operator's outgoing proxy (http://host:port). The environment's
    # proxies are never used. Through a proxy the connection still goes to
    # the checked address: the proxy is asked for that IP, not the name.
    proxy: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def __post_init__(self):
        object.__setattr__(self, '_entries',
                           tuple(AllowEntry.parse(e) for e in self.allow))

    def target(self, url):
        """Check a URL's form; return ``(scheme, host, port)``."""
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            raise ImportFailure('invalid_url', url=url)
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            raise ImportFailure('scheme_not_allowed', scheme=scheme or '-',
                                allowed=', '.join(self.schemes))
        if not parts.hostname:
            raise ImportFailure('invalid_url', url=url)
        host = parts.hostname.lower().rstrip('.')
        if _legacy_numeric(host):
            raise ImportFailure('invalid_host', host=host)
        return scheme, host, port or DEFAULT_PORTS[scheme]

    def permits(self, host, address, port):
        address = ipaddress.ip_address(address)
        if any(e.matches(host, each, port) for e in self._entries
               for each in {address, _unwrap(address)}):
            return True
        return is_public(address) and port in self.ports

    def resolve(self, host, port):
        """Resolve ``host`` once and return an address the policy permits."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise ImportFailure('host_not_found', host=host)
        addresses = [info[4][0] for info in infos]
        for address in addresses:
            if self.permits(host, address, port):
                return address
        LOG.info('Refused %s: it resolved to %s (port %d)', host,
                 ', '.join(addresses), port)
        # The user learns the address only when they typed it: a name's
        # address would tell them what internal names resolve to.
        params = dict(host=host, port=port)
        if _is_address(host):
            params['address'] = host
        raise ImportFailure('address_not_allowed', **params)


class _Alarm:
    """Shuts a socket down for good when ``seconds`` of wall-clock time
    have passed, whatever the thread reading it is doing: a receive that
    waits (or a server that trickles a byte within each read timeout)
    ends at once, with an error or an end of file. ``fired`` says that it
    did. ``sock()`` names the socket at that moment; a later one is the
    caller's to check (``stop``)."""

    def __init__(self, seconds, sock):
        self.fired = False
        self._stopped = False
        self._lock = threading.Lock()
        self._sock = sock
        self._timer = threading.Timer(max(seconds, 0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self):
        with self._lock:
            if self._stopped:
                return
            self.fired = True
            shut(self._sock())

    def stop(self):
        """No firing from now on; ``fired`` is final."""
        with self._lock:
            self._stopped = True
        self._timer.cancel()


def shut(sock):
    """Shut ``sock`` down in both directions, from any thread: a blocked
    receive returns. The plain socket's call, so that a TLS socket is not
    unwrapped under the thread using it."""
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass


def _sock_of(connection):
    return getattr(connection, 'sock', None)


class _Tracked:
    """A connection pool that remembers the connection it last lent, so
    that an alarm can shut its socket while a request waits on it."""

    lent = None

    def _get_conn(self, timeout=None):
        self.lent = super()._get_conn(timeout)
        return self.lent


class _HTTPPool(_Tracked, urllib3.HTTPConnectionPool):
    pass


class _HTTPSPool(_Tracked, urllib3.HTTPSConnectionPool):
    pass


POOLS = {'http': _HTTPPool, 'https': _HTTPSPool}


class Fetcher:
    """Opens URLs under a ``UrlPolicy``, following checked redirects.

    A request's connection, status line and headers must all arrive
    within ``connect_timeout + read_timeout`` seconds of wall-clock time,
    however the server spaces its bytes.
    """

    def __init__(self, policy, user_agent='horizon-image-importer'):
        self.policy = policy
        self.user_agent = user_agent

    def _pool(self, scheme, host, address, port):
        timeout = urllib3.Timeout(connect=self.policy.connect_timeout,
                                  read=self.policy.read_timeout)
        tls = {}
        if scheme == 'https':
            tls = dict(server_hostname=host, assert_hostname=host,
                       cert_reqs='CERT_REQUIRED',
                       ca_certs=self.policy.ca_bundle)
        if self.policy.proxy:
            manager = urllib3.ProxyManager(self.policy.proxy,
                                           timeout=timeout, retries=False)
            manager.pool_classes_by_scheme = POOLS
            return manager.connection_from_host(
                address, port, scheme, pool_kwargs=tls)
        return POOLS[scheme](address, port, timeout=timeout, retries=False,
                             **tls)

    def open(self, url, credentials=None, headers=None, expect=(200,),
             method='GET', origin=None):
        """GET (or HEAD) ``url``, following checked redirects.

        Returns ``(response, final_url)``; the response streams its body.
        A status outside ``expect`` (after redirects) is an ImportFailure.
        ``credentials`` go only to ``origin`` (``(scheme, host, port)``,
        by default ``url``'s): the server the user named, never one it
        redirects to, however the request was reached.
        """
        origin = origin or self.policy.target(url)
        for _hop in range(MAX_REDIRECTS + 1):
            target = self.policy.target(url)
            response = self._send(method, url, target,
                                  self._headers(target, headers, credentials
                                                if target == origin
                                                else None))
            if response.status in REDIRECT_CODES:
                location = response.headers.get('Location')
                response.release_conn()
                if not location:
                    raise ImportFailure('http_status', status=response.status,
                                        reason=response.reason or '')
                url = urllib.parse.urljoin(url, location)
                continue
            if response.status not in expect:
                response.release_conn()
                raise ImportFailure('http_status', status=response.status,
                                    reason=response.reason or '')
            return response, url
        raise ImportFailure('too_many_redirects', limit=MAX_REDIRECTS)

    def _headers(self, target, extra, credentials):
        """A request's headers for ``target`` (``(scheme, host, port)``),
        with ``credentials`` as Basic authorization if given."""
        scheme, host, port = target
        host_header = '[%s]' % host if ':' in host else host
        if port != DEFAULT_PORTS[scheme]:
            host_header = '%s:%d' % (host_header, port)
        headers = {'Host': host_header, 'User-Agent': self.user_agent,
                   'Accept-Encoding': 'identity'}
        headers.update(extra or {})
        if credentials:
            token = base64.b64encode(credentials.encode()).decode()
            headers['Authorization'] = 'Basic ' + token
        return headers

    def _send(self, method, url, target, headers):
        """One request to the checked address of ``target``, its answer
        (status and headers) within ``connect_timeout + read_timeout``
        seconds of wall-clock time; the response, its body unread."""
        scheme, host, port = target
        address = self.policy.resolve(host, port)
        parts = urllib.parse.urlsplit(url)
        path = urllib.parse.urlunsplit(('', '', parts.path or '/',
                                        parts.query, ''))
        if self.policy.proxy and scheme == 'http':
            # Absolute form, naming the checked address.
            literal = '[%s]' % address if ':' in address else address
            path = 'http://%s:%d%s' % (literal, port, path)
        LOG.debug('%s %s://%s:%s%s via %s', method, scheme, host, port,
                  parts.path, address)
        pool = self._pool(scheme, host, address, port)
        seconds = self.policy.connect_timeout + self.policy.read_timeout
        alarm = _Alarm(seconds, lambda: _sock_of(pool.lent))
        try:
            response = pool.urlopen(
                method, path, headers=headers, redirect=False,
                preload_content=False, decode_content=False,
                assert_same_host=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if alarm.fired:
                raise ImportFailure('no_answer', host=host,
                                    seconds=int(seconds))
            if isinstance(exc, urllib3.exceptions.SSLError):
                raise ImportFailure('tls_error', host=host, reason=str(exc))
            raise ImportFailure('connect_failed', host=host,
                                reason=_reason(exc))
        finally:
            alarm.stop()
        if alarm.fired:
            response.release_conn()
            raise ImportFailure('no_answer', host=host, seconds=int(seconds))
        return response

    def fetch_small(self, url, limit, credentials=None, resilience=None):
        """The whole body of a small resource (e.g. a checksum file)."""
        download = Download(self, url, credentials=credentials,
                            max_bytes=limit,
                            resilience=resilience or Resilience())
        try:
            return b''.join(iter(lambda: download.read(CHUNK_SIZE), b''))
        finally:
            download.close()


@dataclasses.dataclass(frozen=True)
class Probe:
    """What a server says of a URL, and the first bytes of the file."""

    url: str                  # after redirects
    size: int | None
    content_type: str
    file_name: str
    resumable: bool
    head: bytes = b''         # the file's first bytes
    complete: bool = False    # ``head`` is the whole file


def probe(fetcher, url, credentials=None, head_bytes=PROBE_BYTES):
    """GET the first ``head_bytes`` bytes of ``url`` (a ``Range``
    request) under the fetcher's policy. Never HEAD: URLs signed for GET
    only (S3, Swift temporary URLs) and some CDNs refuse it. A server
    that ignores the range sends the whole file: its first bytes are
    read and the connection closed. The body has the same wall-clock
    bound as the headers; a slow server gives a shorter ``head``."""
    response, final = fetcher.open(
        url, credentials, headers={'Range': 'bytes=0-%d' % (head_bytes - 1)},
        expect=(200, 206))
    headers = response.headers
    size = _length(response)
    if response.status == 206:
        total = headers.get('Content-Range', '').rpartition('/')[2]
        size = int(total) if total.isdigit() else None
    policy = fetcher.policy
    alarm = _Alarm(policy.connect_timeout + policy.read_timeout,
                   lambda: _sock_of(response.connection))
    parts, got, ended = [], 0, False
    try:
        while got < head_bytes:
            data = response.read1(head_bytes - got, decode_content=False)
            if not data:
                ended = not alarm.fired
                break
            parts.append(data)
            got += len(data)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        LOG.info('Stopped reading the start of %s: %s', _redacted(final),
                 _reason(exc))
    finally:
        alarm.stop()
        # Never back into a pool: a 200's body may go on.
        response.close()
        response.release_conn()
    head = b''.join(parts)
    name = _disposition_name(headers.get('Content-Disposition', ''))
    if not name:
        name = urllib.parse.unquote(
            urllib.parse.urlsplit(final).path.rsplit('/', 1)[-1])
    return Probe(url=_redacted(final), size=size,
                 content_type=headers.get('Content-Type', ''),
                 file_name=name[:255],
                 resumable=(response.status == 206 or
                            headers.get('Accept-Ranges', '').lower() ==
                            'bytes'),
                 head=head,
                 complete=(got >= size if size is not None else ended))


def _disposition_name(value):
    """The file name of a Content-Disposition header, without any path."""
    for part in value.split(';'):
        key, _sep, name = part.strip().partition('=')
        if key.lower() == 'filename' and name:
            return name.strip('"').replace('\\', '/').rsplit('/', 1)[-1]
    return ''


def _reason(exc):
    reason = getattr(exc, 'reason', None) or exc
    return str(reason).split(': ', 1)[-1]


def _length(response):
    value = response.headers.get('Content-Length', '')
    return int(value) if value.isdigit() else None


@dataclasses.dataclass(frozen=True)
class Resilience:
    """How a download copes with a slow or broken source."""

    retries: int = 5             # resumes after a dropped connection
    backoff: float = 1.0         # seconds before the first resume; doubles
    deadline: float = 24 * 3600  # seconds for the whole download
    min_rate: int = 1024         # bytes per second, averaged over window
    window: float = 120.0


class Download:
    """The body of one URL as a file-like ``read(n)``, bounded and resumed.

    A dropped connection is resumed with ``Range`` (and ``If-Range`` so a
    changed file is never stitched to the old one) up to ``retries`` times
    with exponential backoff; more than ``max_bytes`` bytes, a source
    slower than ``min_rate`` over ``window`` seconds, or a download longer
    than ``deadline`` ends it with an ImportFailure.
    """

    # A read hands on what it has after this long (see read).
    PART_SECONDS = 1.0

    def __init__(self, fetcher, url, credentials=None, max_bytes=None,
                 resilience=Resilience(), clock=time.monotonic,
                 sleep=time.sleep, start=0, validator=None):
        """``start`` and ``validator`` continue an earlier download of the
        same file (its ETag or Last-Modified): ``self.start`` says where
        the body really begins, 0 when the file changed."""
        self.fetcher = fetcher
        self.credentials = credentials
        # The server the user named: the only one credentials go to.
        self.origin = fetcher.policy.target(url)
        self.max_bytes = max_bytes
        self.resilience = resilience
        self.resumes = 0
        self._clock = clock
        self._sleep = sleep
        self._started = clock()
        headers = {}
        if start and validator:
            headers = {'Range': 'bytes=%d-' % start, 'If-Range': validator}
        self._response, self.url = fetcher.open(
            url, credentials, headers=headers, expect=(200, 206))
        # The whole download's deadline, kept however the server spaces
        # its bytes: the socket is shut when it passes.
        self._deadline = _Alarm(
            resilience.deadline - (clock() - self._started),
            lambda: _sock_of(self._response.connection))
        headers = self._response.headers
        self.start = self.done = 0
        self.total = _length(self._response)
        content_range = headers.get('Content-Range', '')
        if (self._response.status == 206 and
                content_range.startswith('bytes %d-' % start)):
            self.start = self.done = start
            size = content_range.rpartition('/')[2]
            self.total = int(size) if size.isdigit() else None
        elif self._response.status != 200:
            self.close()
            raise ImportFailure('source_changed', done=start)
        self._window = (self._started, self.done)
        self.validator = headers.get('ETag') or headers.get('Last-Modified')
        self.ranges = headers.get('Accept-Ranges', '').lower() == 'bytes'
        if max_bytes is not None and (self.total or 0) > max_bytes:
            self.close()
            raise ImportFailure('too_large', size=self.total, limit=max_bytes)

    def read(self, size=CHUNK_SIZE):
        """Up to ``size`` bytes; b'' only at the end. The pace and the
        deadline are checked after each receive from the socket, not each
        ``size`` bytes: a source that trickles a byte at a time, each
        within the read timeout, still fails as too slow. A slow source's
        bytes are handed on at least every ``PART_SECONDS``, so the caller
        reports progress (which renews the job's lease and notices a
        cancel) however slowly they come."""
        parts = []
        got = 0
        began = self._clock()
        while got < size and not (
                got and self._clock() - began >= self.PART_SECONDS):
            data = self._receive(size - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
            self.done += len(data)
            if self.max_bytes is not None and self.done > self.max_bytes:
                raise ImportFailure('too_large', size=self.done,
                                    limit=self.max_bytes)
            self._check_pace()
        return b''.join(parts)

    def _receive(self, size):
        """What one receive gives, resuming a dropped connection."""
        while True:
            try:
                data = self._response.read1(size, decode_content=False)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                self._check_deadline()
                self._resume(exc)
                continue
            if not data:
                self._check_deadline()
            if not data and self.total is not None and self.done < self.total:
                self._resume('%d of %d bytes' % (self.done, self.total))
                continue
            return data

    def _check_deadline(self):
        if self._deadline.fired:
            raise ImportFailure('deadline_exceeded',
                                seconds=int(self.resilience.deadline))

    def _check_pace(self):
        now = self._clock()
        if now - self._started > self.resilience.deadline:
            raise ImportFailure('deadline_exceeded',
                                seconds=int(self.resilience.deadline))
        since, done_then = self._window
        if now - since >= self.resilience.window:
            rate = (self.done - done_then) / (now - since)
            if rate < self.resilience.min_rate:
                raise ImportFailure('too_slow', rate=int(rate),
                                    min_rate=self.resilience.min_rate)
            self._window = (now, self.done)

    def _resume(self, cause):
        reason = _reason(cause) if isinstance(cause, Exception) else cause
        if isinstance(cause, urllib3.exceptions.ReadTimeoutError):
            reason = 'no data for %d s' % self.fetcher.policy.read_timeout
        self._response.release_conn()
        if not (self.ranges and self.validator):
            raise ImportFailure('connection_lost', done=self.done,
                                reason=reason)
        if self.resumes >= self.resilience.retries:
            raise ImportFailure('connection_lost', done=self.done,
                                reason='%s; gave up after %d retries' % (
                                    reason, self.resumes))
        self._sleep(self.resilience.backoff * 2 ** self.resumes)
        self.resumes += 1
        LOG.info('Resuming %s at byte %d (%s)', _redacted(self.url),
                 self.done, reason)
        response, _url = self.fetcher.open(
            self.url, self.credentials, expect=(200, 206),
            headers={'Range': 'bytes=%d-' % self.done,
                     'If-Range': self.validator}, origin=self.origin)
        content_range = response.headers.get('Content-Range', '')
        if (response.status != 206 or
                not content_range.startswith('bytes %d-' % self.done)):
            response.release_conn()
            raise ImportFailure('source_changed', done=self.done)
        self._response = response

    def close(self):
        self._deadline.stop()
        self._response.release_conn()


def _redacted(url):
    """A URL for logs: scheme, host and path only."""
    parts = urllib.parse.urlsplit(url)
    return '%s://%s%s' % (parts.scheme, parts.hostname, parts.path)
