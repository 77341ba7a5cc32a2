"""A loopback HTTP server over a directory, for tests and the demo."""

import functools
import http.server
import pathlib
import shutil
import threading
import time


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib's name
        self.server.requests.append(self.path)

    def copyfile(self, source, outputfile):
        rate = self.server.rate
        if not rate:
            return shutil.copyfileobj(source, outputfile)
        chunk = max(1, min(64 * 1024, rate // 10))
        while data := source.read(chunk):
            outputfile.write(data)
            time.sleep(len(data) / rate)


class FileServer:
    """Serve ``directory`` on 127.0.0.1 in a thread; ``.url(name)``.

    ``rate`` (bytes per second) throttles file bodies, so a test can watch
    an import in progress.
    """

    def __init__(self, directory, port=0, rate=None):
        self.root = pathlib.Path(directory)
        handler = functools.partial(Handler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', port),
                                                     handler)
        self.httpd.requests = []
        self.httpd.rate = rate
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        daemon=True)

    @property
    def requests(self):
        return self.httpd.requests

    def url(self, name=''):
        return 'http://127.0.0.1:%d/%s' % (self.port, name)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()
