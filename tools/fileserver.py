"""A loopback HTTP server over a directory, for tests and the demo.

Serves files with ETag, Last-Modified and single ``Range: bytes=N-`` or
``bytes=N-M`` requests (``If-Range`` honoured; ``If-None-Match`` and
``If-Modified-Since`` answered 304), and can misbehave on
purpose for tests: ``server.faults[path] = Fault(...)`` drops a
connection part-way, lies about the length, ignores ranges or HEAD, or
redirects.
"""

import dataclasses
import email.utils
import functools
import http.client
import http.server
import pathlib
import re
import shutil
import ssl
import threading
import time
import urllib.parse

RANGE_RE = re.compile(r'^bytes=(\d+)-(\d*)$')


@dataclasses.dataclass
class Fault:
    drop_after: int | None = None   # close the connection after N bytes
    drops: int = 1                  # ... this many times
    # Announce this Content-Length; -1: none, the body ends at close.
    length: int | None = None
    ranges: bool = True             # honour Range requests
    redirect: str | None = None     # answer 302 to this location
    status: int | None = None       # answer this status with no body
    # Send the status line, then one header line every this many seconds,
    # never ending the headers (each line well within a read timeout).
    header_trickle: float | None = None
    stall_after: int | None = None  # go silent after N bytes of the body
    # Answer HEAD (False: 405, as S3 does for a URL signed for GET only).
    head: bool = True
    content_type: str = 'application/octet-stream'


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # noqa: A002 - stdlib's name
        self.server.requests.append((self.command, self.path,
                                     self.headers.get('Range')))
        # Which requests carried credentials (and which), for the tests.
        self.server.authorizations.append(
            (self.path, self.headers.get('Authorization')))

    def do_HEAD(self):
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if not self.server.faults.get(name, Fault()).head:
            return self._status(405)
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body):
        if self.server.latency:
            # A request's round trip to a server across a network.
            time.sleep(self.server.latency)
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        fault = self.server.faults.get(name, Fault())
        if fault.redirect:
            return self._status(302, Location=fault.redirect)
        if fault.status:
            return self._status(fault.status)
        if fault.header_trickle:
            return self._trickle_headers(fault.header_trickle)
        path = pathlib.Path(self.translate_path(self.path))
        if path.is_dir() and self.server.listing and self.path.endswith('/'):
            listing = self.list_directory(str(path))   # sends the headers
            if body and listing is not None:
                shutil.copyfileobj(listing, self.wfile)
            return None
        if not path.is_file():
            return self._status(404)
        stat = path.stat()
        etag = '"%x-%x"' % (stat.st_size, stat.st_mtime_ns)
        modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
        if etag == self.headers.get('If-None-Match') or (
                'If-None-Match' not in self.headers and
                modified == self.headers.get('If-Modified-Since')):
            return self._status(304, ETag=etag, **{'Last-Modified':
                                                   modified})
        start, end = 0, stat.st_size
        match = RANGE_RE.match(self.headers.get('Range', ''))
        if_range = self.headers.get('If-Range')
        ranged = bool(match and fault.ranges and (
            if_range is None or if_range in (
                etag, email.utils.formatdate(stat.st_mtime, usegmt=True))))
        if ranged:
            start = min(int(match.group(1)), stat.st_size)
            if match.group(2):
                end = min(int(match.group(2)) + 1, stat.st_size)
        self.send_response(206 if ranged else 200)
        self.send_header('Content-Type', fault.content_type)
        self.send_header('ETag', etag)
        self.send_header('Last-Modified',
                         email.utils.formatdate(stat.st_mtime, usegmt=True))
        if fault.ranges:
            self.send_header('Accept-Ranges', 'bytes')
        if ranged:
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (
                start, end - 1, stat.st_size))
        length = end - start
        if fault.length == -1:
            self.close_connection = True
        else:
            self.send_header('Content-Length', str(fault.length or length))
        self.end_headers()
        if body:
            self._send_body(path, start, length, fault)

    def _status(self, code, **headers):
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def _trickle_headers(self, interval, seconds=120):
        self.close_connection = True
        try:
            self.wfile.write(b'HTTP/1.1 200 OK\r\n')
            for _ in range(int(seconds / interval)):
                self.wfile.write(b'X-Wait: 1\r\n')
                self.wfile.flush()
                time.sleep(interval)
        except OSError:
            pass

    def _send_body(self, path, start, length, fault):
        rate = self.server.rate
        chunk = 64 * 1024 if not rate else max(1, min(64 * 1024, rate // 10))
        limit = length
        if fault.stall_after is not None:
            limit = min(length, max(0, fault.stall_after - start))
        if fault.drop_after is not None and fault.drops > 0:
            fault.drops -= 1
            limit = min(length, max(0, fault.drop_after - start))
        sent = 0
        with open(path, 'rb') as source:
            source.seek(start)
            while sent < limit:
                data = source.read(min(chunk, limit - sent))
                if not data:
                    break
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return
                sent += len(data)
                if rate:
                    time.sleep(len(data) / rate)
        if fault.stall_after is not None and sent < length:
            self.wfile.flush()
            time.sleep(120)     # silent, the connection open
            return
        if sent < length:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)


class FileServer:
    """Serve ``directory`` on 127.0.0.1 in a thread; ``.url(name)``.

    ``rate`` (bytes per second) throttles file bodies, so a test can watch
    an import in progress; ``latency`` (seconds) delays every answer, as
    a server across a network would; ``tls=(certfile, keyfile)`` serves
    https.
    """

    def __init__(self, directory, port=0, rate=None, tls=None,
                 listing=False, latency=0.0):
        self.root = pathlib.Path(directory)
        self.scheme = 'https' if tls else 'http'
        handler = functools.partial(Handler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', port),
                                                     handler)
        self.httpd.daemon_threads = True
        self.httpd.requests = []
        self.httpd.authorizations = []
        self.httpd.rate = rate
        self.httpd.latency = latency
        self.httpd.faults = {}
        # Answer a folder's URL with an HTML index of its files, as most
        # mirrors do.
        self.httpd.listing = listing
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket,
                                                    server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        daemon=True)

    @property
    def requests(self):
        return self.httpd.requests

    @property
    def authorizations(self):
        """(path, Authorization header or None) of each request."""
        return self.httpd.authorizations

    @property
    def faults(self):
        return self.httpd.faults

    def url(self, name='', host='127.0.0.1'):
        return '%s://%s:%d/%s' % (self.scheme, host, self.port, name)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """Forwards absolute-form GET/HEAD requests; records each target."""

    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # noqa: A002 - stdlib's name
        pass

    def _forward(self):
        self.server.requests.append(self.path)
        target = urllib.parse.urlsplit(self.path)
        upstream = http.client.HTTPConnection(target.hostname, target.port,
                                              timeout=10)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ('proxy-connection', 'connection')}
        upstream.request(self.command, target.path or '/', headers=headers)
        reply = upstream.getresponse()
        body = reply.read()
        self.send_response(reply.status, reply.reason)
        for key, value in reply.getheaders():
            if key.lower() not in ('connection', 'transfer-encoding',
                                   'content-length'):
                self.send_header(key, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
        upstream.close()

    do_GET = do_HEAD = _forward


class ForwardProxy(FileServer):
    """A plain HTTP forward proxy on 127.0.0.1; ``.requests`` lists the
    absolute URLs it was asked for."""

    def __init__(self, port=0):
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', port),
                                                     _ProxyHandler)
        self.httpd.daemon_threads = True
        self.httpd.requests = []
        self.port = self.httpd.server_address[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        daemon=True)
