"""A browser's share of HTTP for Horizon, for the benchmarks: cookies,
CSRF, ajax headers, the login form. Stdlib only."""

import html.parser
import http.client
import http.cookies
import re
import time
import urllib.parse

from tools import stack as stack_tool

# The project's Image Imports table and its Import Image form.
INDEX = '/project/image_imports/'
CREATE = '/project/image_imports/create/'


class WebError(Exception):
    """Horizon did not answer as a browser expects."""


class FormInputs(html.parser.HTMLParser):
    """Names and values of the inputs of an HTML page's first form."""

    def __init__(self):
        super().__init__()
        self.values = {}
        self._forms = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'form':
            self._forms += 1
        elif tag == 'input' and self._forms == 1 and attrs.get('name'):
            if attrs.get('type') in ('checkbox', 'radio') and (
                    'checked' not in attrs):
                return
            self.values[attrs['name']] = attrs.get('value') or ''


class Client:
    """A browser's share of HTTP for Horizon: cookies, CSRF, ajax headers.

    One connection per request (loopback: a fraction of a millisecond).
    """

    def __init__(self, base_url):
        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.base_url = base_url
        self.cookies = {}

    def request(self, method, path, body=None, headers=None, ajax=False):
        """(status, headers, text, seconds from send to the last byte)."""
        headers = dict(headers or {})
        if self.cookies:
            headers['Cookie'] = '; '.join(
                '%s=%s' % item for item in self.cookies.items())
        if ajax:
            headers['X-Requested-With'] = 'XMLHttpRequest'
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body).encode()
            headers['Content-Type'] = 'application/x-www-form-urlencoded'
            headers['Referer'] = self.base_url + path
            if 'csrftoken' in self.cookies:
                headers['X-CSRFToken'] = self.cookies['csrftoken']
        connection = http.client.HTTPConnection(self.host, self.port,
                                                timeout=120)
        try:
            start = time.perf_counter()
            connection.request(method, path, data, headers)
            response = connection.getresponse()
            raw = response.read()
            seconds = time.perf_counter() - start
        finally:
            connection.close()
        for value in response.headers.get_all('Set-Cookie') or ():
            jar = http.cookies.SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                if morsel['max-age'] == '0' or (
                        morsel['expires'] and '1970' in morsel['expires']):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return (response.status, response.headers,
                raw.decode('utf-8', 'replace'), seconds)

    def get(self, path, **kwargs):
        return self.request('GET', path, **kwargs)

    def post(self, path, body, **kwargs):
        return self.request('POST', path, body=body, **kwargs)

    def login(self, user, password, landing):
        """Horizon's login form, as a browser fills it in."""
        status, _headers, text, _s = self.get('/auth/login/')
        if status != 200:
            raise WebError('GET /auth/login/ answered %d' % status)
        form = FormInputs()
        form.feed(text)
        values = dict(form.values, username=user, password=password)
        if 'domain' in values:
            values['domain'] = stack_tool.DOMAIN
        status, headers, text, _s = self.post('/auth/login/', values)
        if status != 302:
            raise WebError('logging in as %s answered %d, not a redirect: '
                           '%s' % (user, status, _snippet(text)))
        status, _headers, text, _s = self.get(landing)
        if status != 200:
            raise WebError('after logging in as %s, %s answered %d'
                           % (user, landing, status))


def _snippet(text, length=300):
    """The readable part of an HTML answer, for an error message."""
    errors = re.findall(r'class="[^"]*(?:alert|error)[^"]*"[^>]*>(.*?)<',
                        text, re.S)
    found = ' | '.join(e.strip() for e in errors if e.strip())
    return (found or re.sub(r'\s+', ' ', text))[:length]
