"""Horizon with this plugin installed as an operator installs it.

Stdlib only. Builds the sdist and wheel with ``python -m build``, creates
a virtualenv with Horizon 27 and gunicorn from PyPI, installs the plugin
by name from the built wheel (``pip install horizon-image-importer``, as
the README says), runs ``image-importer-enable``, writes Horizon's own
``openstack_dashboard/local/local_settings.py``, migrates, collects and
compresses the static files with ``DEBUG = False``, and serves Horizon
with gunicorn behind nginx (which serves ``/static/``), with the import
worker beside it: nothing comes from the source tree.
"""

import os
from pathlib import Path
import shutil
import subprocess
import sys
import time

from tools import dashboard
from tools import stack as stack_tool

# What an operator's Horizon host has before the plugin.
HORIZON_REQUIREMENTS = ('horizon==27.0.0', 'Django>=5.2,<5.3', 'gunicorn')
DISTRIBUTION = 'horizon-image-importer'

NGINX_CONF = '''\
{user}worker_processes 1;
pid {state}/nginx.pid;
error_log {state}/logs/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log {state}/logs/nginx-access.log;
    client_body_temp_path {state}/nginx/body;
    proxy_temp_path {state}/nginx/proxy;
    fastcgi_temp_path {state}/nginx/fastcgi;
    uwsgi_temp_path {state}/nginx/uwsgi;
    scgi_temp_path {state}/nginx/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /static/ {{ alias {static_root}/; }}
        location / {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
'''


def run(cmd, log, env=None, cwd=None):
    """Run ``cmd``, its output appended to ``log``; fail with the log's
    tail."""
    with open(log, 'a') as out:
        out.write('$ %s\n' % ' '.join(str(c) for c in cmd))
        out.flush()
        result = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    if result.returncode:
        tail = '\n'.join(Path(log).read_text(errors='replace')
                         .splitlines()[-30:])
        raise RuntimeError('%s failed (exit %d):\n%s' % (
            ' '.join(str(c) for c in cmd), result.returncode, tail))


def build_dist(source, outdir, log):
    """``python -m build``: the sdist, then the wheel built from that
    sdist. Returns ``(wheel, sdist)``."""
    outdir = Path(outdir)
    run([sys.executable, '-m', 'build', '--outdir', outdir, source], log)
    wheels = sorted(outdir.glob('*.whl'))
    sdists = sorted(outdir.glob('*.tar.gz'))
    if len(wheels) != 1 or len(sdists) != 1:
        raise RuntimeError('expected one wheel and one sdist in %s, found '
                           '%s' % (outdir, sorted(os.listdir(outdir))))
    return wheels[0], sdists[0]


def dist_version(wheel):
    """The version in a wheel's file name."""
    return Path(wheel).name.split('-')[1]


class Deployment(dashboard.Dashboard):
    """One operator's Horizon host: its own virtualenv under ``state_dir``
    (Horizon, gunicorn, the plugin from a wheel), gunicorn behind nginx on
    ``port``, and the import worker."""

    def __init__(self, state_dir, keystone_url, port=None, **kwargs):
        state_dir = Path(state_dir)
        super().__init__(state_dir / 'venv', state_dir, keystone_url,
                         port=port or stack_tool.free_port(), **kwargs)
        self.backend_port = stack_tool.free_port()
        self.static_root = state_dir / 'static'
        self.log = state_dir / 'logs' / 'operator.log'
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.timings = {}

    def env(self):
        env = super().env()
        # Only Horizon's own settings module, as on a deployed host.
        env.pop('HII_LOCAL_SETTINGS', None)
        env.pop('VIRTUAL_ENV', None)
        env['PATH'] = '%s:%s' % (self.venv / 'bin', env.get('PATH', ''))
        return env

    def _timed(self, name, func, *args):
        started = time.monotonic()
        result = func(*args)
        self.timings[name] = time.monotonic() - started
        return result

    def bin(self, name):
        return self.venv / 'bin' / name

    # -- the operator's steps -----------------------------------------------

    def create_venv(self):
        """A new virtualenv with Horizon 27 and gunicorn from PyPI."""
        def create():
            run([sys.executable, '-m', 'venv', self.venv], self.log)
            run([self.bin('pip'), 'install', '-q', *HORIZON_REQUIREMENTS],
                self.log, env=self.env())
        self._timed('virtualenv with Horizon', create)

    def pip_install_from(self, wheel_dir, upgrade=False):
        """``pip install [-U] horizon-image-importer``, exactly as the
        README and the operator guide say, finding the built wheel."""
        env = dict(self.env(), PIP_FIND_LINKS=str(wheel_dir))
        cmd = [self.bin('pip'), 'install', '-q']
        if upgrade:
            cmd.append('-U')
        self._timed('pip install' + (' -U' if upgrade else ''), run,
                    cmd + [DISTRIBUTION], self.log, env)

    def installed_version(self):
        return subprocess.run(
            [self.bin('python'), '-c', 'from importlib import metadata; '
             'print(metadata.version(%r))' % DISTRIBUTION],
            env=self.env(), cwd=self.state, check=True, capture_output=True,
            text=True).stdout.strip()

    def dashboard_dir(self):
        return Path(subprocess.run(
            [self.bin('python'), '-c', 'import os, openstack_dashboard; '
             'print(os.path.dirname(openstack_dashboard.__file__))'],
            env=self.env(), cwd=self.state, check=True, capture_output=True,
            text=True).stdout.strip())

    def django_admin(self, *args):
        run([self.bin('django-admin'), *args], self.log, env=self.env(),
            cwd=self.state)

    def prepare(self):
        """``image-importer-enable``, local_settings.py, migrate,
        collectstatic and compress, as the operator guide says."""
        started = time.monotonic()
        run([self.bin('image-importer-enable')], self.log, env=self.env(),
            cwd=self.state)
        secret = self.state / 'secret_key'
        if not secret.exists():
            secret.write_text(os.urandom(32).hex())
        settings = self.dashboard_dir() / 'local' / 'local_settings.py'
        settings.write_text(dashboard.SETTINGS.format(
            secret_key=secret.read_text(), keystone_url=self.keystone_url,
            static_root=str(self.static_root),
            database=str(self.state / 'horizon.sqlite3'),
            importer=self.importer) + self.extra_settings)
        self.django_admin('migrate', '--noinput')
        self.django_admin('collectstatic', '--noinput', '--clear')
        self.django_admin('compress', '--force')
        self.timings['enable, migrate, collectstatic, compress'] = (
            time.monotonic() - started)

    def start(self, timeout=60):
        """gunicorn, nginx in front of it, and the worker."""
        started = time.monotonic()
        self._spawn('gunicorn', [
            self.bin('gunicorn'), '--bind',
            '127.0.0.1:%d' % self.backend_port, '--workers', '2',
            '--no-control-socket', 'openstack_dashboard.wsgi'])
        nginx = self.state / 'nginx'
        for folder in ('body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'):
            (nginx / folder).mkdir(parents=True, exist_ok=True)
        conf = self.state / 'nginx.conf'
        conf.write_text(NGINX_CONF.format(
            # As root nginx drops to 'nobody', who cannot read the state
            # folder; a deployment gives the static files to its own user.
            user='user root;\n' if os.geteuid() == 0 else '',
            state=self.state, port=self.port, backend=self.backend_port,
            static_root=self.static_root))
        self._spawn('nginx', [
            shutil.which('nginx') or '/usr/sbin/nginx',
            '-e', self.state / 'logs' / 'nginx-error.log',
            '-c', conf, '-g', 'daemon off;'])
        self.start_worker(concurrency=1)
        self._wait_for(self.url + '/auth/login/', timeout)
        self.timings['start gunicorn, nginx, worker'] = (
            time.monotonic() - started)
        return self

    def _spawn(self, name, cmd):
        super()._spawn(name, [str(c) for c in cmd])
