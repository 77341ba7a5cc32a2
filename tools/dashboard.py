"""Horizon 27 with this plugin, plus its import worker, for the demo and
the browser tests. Stdlib only; runs from the Horizon virtualenv that
``tools/devenv.py`` keeps under the cache dir.

Each instance has its own state dir (settings file, job database, work and
broker folders); the shared virtualenv only gets a small
``local_settings.py`` that loads the file named by ``HII_LOCAL_SETTINGS``,
and the plugin's enabled files, as an operator would install them.
"""

import hashlib
import os
from pathlib import Path
import signal
import subprocess
import time
import urllib.error
import urllib.request

ROOT = Path(__file__).resolve().parent.parent

LOADER = '''\
# Written by horizon-image-importer's tools/dashboard.py: load the settings
# of the instance being started (see HII_LOCAL_SETTINGS).
import os as _os

_path = _os.environ.get('HII_LOCAL_SETTINGS')
if _path:
    with open(_path) as _file:
        exec(compile(_file.read(), _path, 'exec'))
'''

SETTINGS = '''\
# Settings of one demo/test dashboard instance (tools/dashboard.py).
DEBUG = False
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
SECRET_KEY = {secret_key!r}
OPENSTACK_HOST = '127.0.0.1'
OPENSTACK_KEYSTONE_URL = {keystone_url!r}
OPENSTACK_KEYSTONE_DEFAULT_DOMAIN = 'Default'
OPENSTACK_KEYSTONE_DEFAULT_ROLE = 'member'
LOGIN_REDIRECT_URL = '/project/image_imports/'
STATIC_ROOT = {static_root!r}
COMPRESS_OFFLINE = True
COMPRESS_ENABLED = True
SESSION_ENGINE = 'django.contrib.sessions.backends.signed_cookies'
CACHES = {{'default': {{
    'BACKEND': 'django.core.cache.backends.locmem.LocMemCache',
    'OPTIONS': {{'MAX_ENTRIES': 100000}}}}}}
DATABASES = {{'default': {{
    'ENGINE': 'django.db.backends.sqlite3',
    'NAME': {database!r},
    'OPTIONS': {{
        'timeout': 20,
        'transaction_mode': 'IMMEDIATE',
        'init_command': 'PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;',
    }}}}}}
IMAGE_IMPORTER = {importer!r}
LOGGING = {{
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {{'console': {{'class': 'logging.StreamHandler'}}}},
    'loggers': {{
        'image_importer': {{'handlers': ['console'], 'level': 'INFO'}},
        'celery': {{'handlers': ['console'], 'level': 'INFO'}},
    }},
}}
'''


def static_digest():
    """A digest of what the plugin adds to Horizon's static files."""
    digest = hashlib.sha256()
    for path in sorted([*(ROOT / 'image_importer' / 'static').rglob('*'),
                        *(ROOT / 'enabled').glob('*.py')]):
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


class Dashboard:
    """Horizon (``runserver``) and the import worker (Celery, embedded
    broker) for one state dir."""

    def __init__(self, venv, state_dir, keystone_url, port=8000,
                 url_allowlist=(), importer=None, extra_settings=''):
        self.venv = Path(venv)
        self.state = Path(state_dir)
        self.keystone_url = keystone_url
        self.port = port
        self.url = 'http://127.0.0.1:%d' % port
        self.importer = {
            'WORK_DIR': str(self.state / 'work'),
            'STATE_DIR': str(self.state / 'worker'),
            'URL_ALLOWLIST': list(url_allowlist),
        }
        self.importer.update(importer or {})
        self.extra_settings = extra_settings
        self.procs = {}

    # -- setup --------------------------------------------------------------

    @property
    def python(self):
        return str(self.venv / 'bin' / 'python')

    def env(self):
        env = dict(os.environ,
                   DJANGO_SETTINGS_MODULE='openstack_dashboard.settings',
                   HII_LOCAL_SETTINGS=str(self.state / 'local_settings.py'),
                   PYTHONUNBUFFERED='1')
        env.pop('PYTHONPATH', None)
        return env

    def _site_packages(self):
        return Path(self._run_py(
            'import openstack_dashboard, os; '
            'print(os.path.dirname(openstack_dashboard.__file__))').strip())

    def _run_py(self, code):
        return subprocess.run([self.python, '-c', code], check=True,
                              capture_output=True, text=True,
                              env=self.env()).stdout

    def _manage(self, *args):
        log = self.state / 'logs' / 'manage.log'
        with open(log, 'a') as out:
            result = subprocess.run(
                [str(self.venv / 'bin' / 'django-admin'), *args],
                env=self.env(), stdout=out, stderr=subprocess.STDOUT)
        if result.returncode:
            raise RuntimeError('django-admin %s failed; see %s'
                               % (' '.join(args), log))

    def prepare(self):
        """Write settings, install the enabled files, migrate, and build
        the static files once per virtualenv."""
        (self.state / 'logs').mkdir(parents=True, exist_ok=True)
        dashboard_dir = self._site_packages()
        loader = dashboard_dir / 'local' / 'local_settings.py'
        if not loader.exists() or loader.read_text() != LOADER:
            loader.write_text(LOADER)
        subprocess.run([self.python, '-m', 'image_importer.cmd.enable'],
                       check=True, capture_output=True, env=self.env())
        secret = self.state / 'secret_key'
        if not secret.exists():
            secret.write_text(os.urandom(32).hex())
            secret.chmod(0o600)
        static_root = self.venv / 'hii-static'
        (self.state / 'local_settings.py').write_text(SETTINGS.format(
            secret_key=secret.read_text(), keystone_url=self.keystone_url,
            static_root=str(static_root),
            database=str(self.state / 'horizon.sqlite3'),
            importer=self.importer) + self.extra_settings)
        self._manage('migrate', '--noinput')
        stamp = static_root / '.hii-built'
        marker_file = self.venv / '.hii-installed'
        marker = marker_file.read_text() if marker_file.exists() else ''
        # Built again when the plugin's own static files or the scripts
        # its enabled files add change, not only the virtualenv.
        marker += static_digest()
        if not stamp.exists() or stamp.read_text() != marker:
            self._manage('collectstatic', '--noinput', '--clear')
            self._manage('compress', '--force')
            stamp.write_text(marker)

    # -- processes ----------------------------------------------------------

    def _spawn(self, name, cmd):
        log = open(self.state / 'logs' / ('%s.log' % name), 'ab')
        self.procs[name] = subprocess.Popen(
            cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=str(self.state))
        log.close()

    def start_worker(self, name='importer', concurrency=2):
        self._spawn('worker', [
            str(self.venv / 'bin' / 'celery'), '-A', 'image_importer.worker',
            'worker', '--beat', '--loglevel=INFO', '-O', 'fair',
            '--concurrency=%d' % concurrency, '--hostname=%s@%%h' % name])

    def stop_worker(self):
        self._stop('worker')

    def start(self, timeout=60):
        self._spawn('horizon', [
            str(self.venv / 'bin' / 'django-admin'), 'runserver',
            '127.0.0.1:%d' % self.port, '--insecure', '--noreload'])
        self.start_worker()
        self._wait_for(self.url + '/auth/login/', timeout)
        return self

    def _wait_for(self, url, timeout):
        """The body of ``url`` once it answers; fails early if one of the
        processes exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError('%s exited; see %s' % (
                        name, self.state / 'logs' / ('%s.log' % name)))
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return response.read()
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError('nothing answered on %s' % url)

    def _stop(self, name, timeout=10):
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
        # A worker's pool children share its process group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self):
        for name in list(self.procs):
            self._stop(name)

    def __enter__(self):
        self.prepare()
        return self.start()

    def __exit__(self, *exc):
        self.stop()
