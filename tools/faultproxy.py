"""A loopback TCP proxy that breaks things on purpose, for fault tests.

Put it in front of a real service (Glance, PostgreSQL) and:

- ``outage()`` ... ``restore()``: every open connection is cut and new
  ones are refused (closed at once) until restored, as when a database
  restarts;
- ``arm(pattern, action, times)``: when a client sends a request whose
  request line matches ``pattern`` (e.g. Glance's image upload), answer it
  ``'503'`` without passing it on, or ``'reset'`` the connection after
  ``after`` bytes of it went through, or ``'record'`` what the client
  sends from that request on, into ``recorded``, passing it on, or
  ``'flip'`` one bit of a body byte past ``after`` bytes (as a faulty
  disk or network would), passing the rest on unchanged, or
  ``'stored-500'``: pass the request on whole but answer 500 instead of
  the service's answer; ``times`` requests in a row.

HTTP requests are found by their request line, which works because HTTP
clients send the next request on a connection only after the last answer.
"""

import logging
import re
import select
import socket
import struct
import threading

LOG = logging.getLogger(__name__)
SERVICE_UNAVAILABLE = (b'HTTP/1.1 503 Service Unavailable\r\n'
                       b'Content-Type: text/plain\r\nContent-Length: 21\r\n'
                       b'Connection: close\r\n\r\nService Unavailable\r\n')
INTERNAL_ERROR = (b'HTTP/1.1 500 Internal Server Error\r\n'
                  b'Content-Type: text/plain\r\nContent-Length: 23\r\n'
                  b'Connection: close\r\n\r\nInternal Server Error\r\n')


def _reset(sock):
    """Close with a TCP RST, as a crashed peer does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack('ii', 1, 0))
        sock.close()
    except OSError:
        pass


# What HTTP/1.1 chunk framing is made of (sizes in hex, CRLF): a byte
# outside these is body data, whatever the chunk sizes are.
_FRAMING = frozenset(b'0123456789abcdefABCDEF\r\n')


def _flip(data, rule, passed):
    """``data`` with one bit flipped in its first body byte at or past
    the rule's ``after``, and the rule left to apply (None once done)."""
    start = max(rule['after'] - passed, 0)
    for at in range(start, len(data)):
        if data[at] not in _FRAMING:
            changed = bytearray(data)
            changed[at] ^= 0x01
            return bytes(changed), None
    return data, rule


class FaultProxy:
    def __init__(self, target_port, target_host='127.0.0.1'):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(('127.0.0.1', 0))
        # Blocking whatever socket.setdefaulttimeout() says: a timeout
        # would end the accept loop while the test is still busy.
        self._listener.settimeout(None)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._down = 0          # outages so far; 0 when restored
        self.recorded = bytearray()
        self._closed = False
        self._rule = None
        self.faults_done = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, scheme='http'):
        return '%s://127.0.0.1:%d' % (scheme, self.port)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._listener.close()
        with self._lock:
            self._closed = True

    __enter__ = start

    def __exit__(self, *exc):
        self.stop()

    # -- faults ---------------------------------------------------------

    def outage(self):
        """Cut every connection and refuse new ones until ``restore()``."""
        with self._lock:
            self._down += 1

    def restore(self):
        with self._lock:
            self._down = 0

    def arm(self, pattern, action, times=1, after=0):
        with self._lock:
            self._rule = {'pattern': re.compile(pattern), 'action': action,
                          'times': times, 'after': after}

    def _take_fault(self, data):
        with self._lock:
            rule = self._rule
            if not rule or not rule['pattern'].search(data):
                return None
            rule['times'] -= 1
            if rule['times'] <= 0:
                self._rule = None
            self.faults_done += 1
            return dict(rule)

    # -- plumbing -------------------------------------------------------
    # One thread per connection moves both directions with select(), so no
    # socket is ever closed under another thread's feet.

    def _accept(self):
        while True:
            try:
                client, _addr = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,),
                             daemon=True).start()

    def _serve(self, client):
        with self._lock:
            outages = self._down
        if outages:
            _reset(client)
            return
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            _reset(client)
            return
        client.settimeout(None)
        server.settimeout(None)
        try:
            self._relay(client, server, outages)
        except OSError:
            pass
        except Exception:
            LOG.exception('fault proxy: relay failed')
        _reset(client)
        _reset(server)

    def _relay(self, client, server, outages):
        failing = None      # the fault taken by the current request
        passed = 0
        while True:
            with self._lock:
                if self._down != outages or self._closed:
                    return
            ready, _w, _x = select.select([client, server], [], [], 0.2)
            if server in ready:
                data = server.recv(65536)
                if not data:
                    return
                if failing and failing['action'] == 'stored-500':
                    # Glance took the request whole; its answer is lost
                    # to a 500, as when it fails after storing.
                    client.sendall(INTERNAL_ERROR)
                    return
                client.sendall(data)
            if client in ready:
                data = client.recv(65536)
                if not data:
                    return
                if failing is None:
                    failing = self._take_fault(data[:512])
                    passed = 0
                    if failing and failing['action'] == '503':
                        client.sendall(SERVICE_UNAVAILABLE)
                        return
                if failing and failing['action'] == 'record':
                    with self._lock:
                        self.recorded += data
                elif failing and failing['action'] == 'flip':
                    data, failing = _flip(data, failing, passed)
                    passed += len(data)
                elif failing and failing['action'] != 'stored-500':
                    passed += len(data)
                    if passed > failing['after']:
                        return
                server.sendall(data)
