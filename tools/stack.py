"""A throwaway Keystone 30 + Glance 33 on 127.0.0.1 (SQLite, file store).

Used by the demo and the test suite.  Stdlib only; the services run from
their own virtualenvs under ``$HII_CACHE`` (default
``~/.cache/horizon-image-importer``).

CLI::

    python tools/stack.py install
    python tools/stack.py up --state DIR [--keystone-port N] [--glance-port N]
    python tools/stack.py down --state DIR
"""

import argparse
import atexit
import base64
import concurrent.futures
import contextlib
import fcntl
import json
import os
from pathlib import Path
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REGION = 'RegionOne'
DOMAIN = 'Default'

# name: (distribution, pinned version, pip requirements)
VENVS = {
    'keystone': ('keystone', '30.0.0', ('keystone==30.0.0', 'gunicorn')),
    'glance': ('glance', '33.0.0',
               ('glance==33.0.0', 'python-openstackclient', 'gunicorn')),
}

# name: (password, project, roles); admin itself is made by bootstrap.
USERS = {
    'admin': ('admin', 'admin', ('admin',)),
    'demo': ('demo', 'demo', ('member',)),
    'alt': ('alt', 'alt', ('member',)),
    'glance': ('glance', 'service', ('admin', 'service')),
    # The importer's service user (IMAGE_IMPORTER['SERVICE_AUTH']): the
    # trustee of each job's trust. It needs no role of its own to use a
    # trust; 'service' only lets it log in scoped to its project.
    'image-importer': ('image-importer', 'service', ('service',)),
}
PROJECTS = ('admin', 'demo', 'service', 'alt')

KEYSTONE_WSGI = """\
import sys
sys.argv = sys.argv[:1]  # keystone parses sys.argv; hide gunicorn's options
from keystone.wsgi.api import application  # noqa: E402,F401
"""


# ---------------------------------------------------------------- venvs

def cache_dir():
    """The directory holding the service virtualenvs."""
    default = Path.home() / '.cache' / 'horizon-image-importer'
    return Path(os.environ.get('HII_CACHE') or default)


def venv_dir(name):
    return cache_dir() / f'venv-{name}'


def ensure_venvs():
    """Create and install the Keystone and Glance virtualenvs if needed."""
    for name, (dist, version, reqs) in VENVS.items():
        path = venv_dir(name)
        ensure_venv(path, reqs,
                    adopt=lambda p=path, d=dist, v=version: _has_dist(p, d, v))


def ensure_venv(path, reqs, marker=None, adopt=None):
    """Install ``reqs`` into the venv at ``path`` unless its marker file
    already says ``marker`` (default: the requirement string). ``adopt()``
    may accept a venv that was installed without a marker."""
    marker_file = path / '.hii-installed'
    wanted = marker or ' '.join(reqs)
    if _read(marker_file) == wanted:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / '.install.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = _read(marker_file)
        if current == wanted:
            return
        if current is not None or not (adopt and adopt()):
            _install(path, reqs)
        marker_file.write_text(wanted + '\n')


def _read(path):
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def _has_dist(venv, dist, version):
    found = venv.glob(f'lib/python*/site-packages/{dist}-{version}.dist-info')
    return any(found) and (venv / 'bin' / 'gunicorn').exists()


def _install(path, reqs):
    log = path.parent / f'install-{path.name}.log'
    print(f'stack: installing {" ".join(reqs)} into {path} '
          f'(1-2 min, log {log})', file=sys.stderr)
    with open(log, 'w') as out:
        if not (path / 'bin' / 'python').exists():
            subprocess.run([sys.executable, '-m', 'venv', str(path)],
                           stdout=out, stderr=subprocess.STDOUT, check=True)
        result = subprocess.run([str(path / 'bin' / 'pip'), 'install', *reqs],
                                stdout=out, stderr=subprocess.STDOUT)
    if result.returncode:
        raise RuntimeError(f'pip install failed for {path}:\n{_tail(log)}')


# ---------------------------------------------------------------- helpers

def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _check_port_free(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(('127.0.0.1', port))
        except OSError as exc:
            raise RuntimeError(f'port {port} on 127.0.0.1 is in use') from exc


def _tail(path, lines=30):
    try:
        return '\n'.join(Path(path).read_text(errors='replace')
                         .splitlines()[-lines:])
    except FileNotFoundError:
        return ''


def _sqlite_url(path):
    """A SQLite database for several processes writing at once (the demo's
    and the tests' Keystone and Glance run several workers): a writer
    waits up to 30 s for another to finish instead of failing with
    "database is locked"."""
    return f'sqlite:///{path}?timeout=30'


# gunicorn's config for Keystone and Glance (read by gunicorn's master,
# which imports it before it forks the workers): every SQLite transaction
# takes the write lock as it begins. SQLite gives a transaction that
# began as a reader and then writes "database is locked" at once, whatever
# the busy timeout, whenever another process wrote meanwhile; one that
# begins IMMEDIATE waits for the lock instead. The recipe is SQLAlchemy's
# ("Serializable isolation / Savepoints / Transactional DDL", pysqlite).
SQLITE_WRITERS = """\
from sqlalchemy import event
from sqlalchemy.engine import Engine


@event.listens_for(Engine, 'connect')
def _no_implicit_transactions(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith('sqlite3'):
        dbapi_connection.isolation_level = None


@event.listens_for(Engine, 'begin')
def _begin_as_a_writer(connection):
    # oslo.db's own listener, which runs after this one, emits a plain
    # BEGIN unless it finds its mark that one was sent.
    if (connection.dialect.name == 'sqlite' and
            'in_transaction' not in connection.info):
        connection.exec_driver_sql('BEGIN IMMEDIATE')
        connection.info['in_transaction'] = True


@event.listens_for(Engine, 'commit')
@event.listens_for(Engine, 'rollback')
def _ended(connection):
    connection.info.pop('in_transaction', None)
"""


# How each service is served. Keystone as DevStack serves it, one request
# at a time per process: under threads it answered a trust's creation,
# now and then, with another request's trust ("Could not find trust").
SERVERS = {
    'keystone': ('--workers', '4', '--worker-class', 'sync'),
    'glance': ('--workers', '2', '--worker-class', 'gthread',
               '--threads', '8'),
}


def _write_ahead_log(path):
    """Put the database in WAL mode (kept in the file): readers no longer
    block the writer, nor the writer them."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute('PRAGMA journal_mode=WAL')


def _render_ini(sections):
    out = []
    for section, options in sections.items():
        out.append(f'[{section}]')
        for key, value in options.items():
            if isinstance(value, (list, tuple)):
                value = '[' + ','.join(str(v) for v in value) + ']'
            elif isinstance(value, bool):
                value = str(value).lower()
            out.append(f'{key} = {value}')
        out.append('')
    return '\n'.join(out)


def _fernet_repo(path):
    """A key repository like ``keystone-manage fernet_setup`` makes."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for index in ('0', '1'):
        key = path / index
        if not key.exists():
            key.write_bytes(base64.urlsafe_b64encode(os.urandom(32)))
            key.chmod(0o600)


def _call(method, url, body=None, token=None, timeout=30):
    """One JSON REST call; returns (headers, decoded body or None)."""
    headers = {'Accept': 'application/json'}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers['Content-Type'] = 'application/json'
    if token:
        headers['X-Auth-Token'] = token
    request = urllib.request.Request(url, data, headers, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
        return response.headers, json.loads(raw) if raw else None


def _group_members(pgid):
    """Live (non-zombie) processes in process group ``pgid``."""
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f'/proc/{entry}/stat').read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(')', 1)[1].split()[:3]
        if int(pgrp) == pgid and state != 'Z':
            pids.append(int(entry))
    return pids


def _cmdline(pid):
    try:
        return Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ')
    except OSError:
        return b''


def _terminate_groups(pgids, timeout=5, reap=lambda: None):
    """SIGTERM each process group, wait for it to empty, then SIGKILL."""
    def signal_all(sig):
        for pgid in pgids:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        reap()
        if not any(_group_members(pgid) for pgid in pgids):
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    signal_all(signal.SIGKILL)
    while any(_group_members(pgid) for pgid in pgids):
        reap()
        time.sleep(0.05)


# ---------------------------------------------------------------- stack

class Stack:
    """Keystone + Glance serving from ``state_dir``; DBs live on tmpfs."""

    def __init__(self, state_dir, keystone_port=5000, glance_port=9292,
                 glance_options=None, token_expiration=3600,
                 image_limits=None):
        self.state_dir = Path(state_dir).resolve()
        self.keystone_port = keystone_port
        self.glance_port = glance_port
        self.glance_options = glance_options or {}
        self.token_expiration = token_expiration
        # Glance quotas as Keystone registered limits ({'image_size_total':
        # MiB, 'image_count_total': n, ...}; -1 is unlimited); None: none.
        self.image_limits = image_limits
        self.keystone_url = f'http://127.0.0.1:{keystone_port}/v3'
        self.glance_url = f'http://127.0.0.1:{glance_port}'
        self.log_dir = self.state_dir / 'logs'
        self.project_ids = {}
        self.user_ids = {}
        self._procs = {}
        self._db_dir = None
        self._cancel = threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- lifecycle

    def start(self, timeout=120):
        """Configure, sync DBs, serve both services, seed Keystone; wait."""
        if self._procs:
            return
        ensure_venvs()
        for port in (self.keystone_port, self.glance_port):
            _check_port_free(port)
        deadline = time.monotonic() + timeout
        self._cancel.clear()
        atexit.register(self.stop)
        try:
            self._prepare_dirs()
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                jobs = [pool.submit(self._start_keystone, deadline),
                        pool.submit(self._start_glance, deadline)]
                try:
                    for job in jobs:
                        job.result()
                except BaseException:
                    self._cancel.set()  # make the other thread give up fast
                    raise
            self._check_demo_can_list_images()
        except BaseException:
            self.stop()
            raise

    def stop(self):
        """Kill every process group started here and drop the tmpfs DBs."""
        atexit.unregister(self.stop)
        procs = list(self._procs.values())
        if procs:
            _terminate_groups([p.pid for p in procs],
                              reap=lambda: [p.poll() for p in procs])
        self._procs.clear()
        if self._db_dir:
            shutil.rmtree(self._db_dir, ignore_errors=True)
            self._db_dir = None

    def info(self):
        """Everything a client needs, JSON-serialisable."""
        return {
            'keystone_url': self.keystone_url,
            'glance_url': self.glance_url,
            'region': REGION,
            'user_domain': DOMAIN,
            'project_domain': DOMAIN,
            'users': {name: {'password': password, 'project': project,
                             'roles': list(roles),
                             'id': self.user_ids.get(name)}
                      for name, (password, project, roles) in USERS.items()},
            'projects': dict(self.project_ids),
            'pids': {name: p.pid for name, p in self._procs.items()},
            'logs': {name: str(self.log_dir / f'{name}.log')
                     for name in ('keystone', 'keystone-manage',
                                  'glance', 'glance-manage')},
            'state_dir': str(self.state_dir),
            'db_dir': str(self._db_dir) if self._db_dir else None,
        }

    def service_auth(self):
        """IMAGE_IMPORTER['SERVICE_AUTH'] for the importer's service user."""
        password, project, _roles = USERS['image-importer']
        return {'auth_url': self.keystone_url, 'username': 'image-importer',
                'user_id': self.user_ids['image-importer'],
                'password': password, 'user_domain_name': DOMAIN,
                'project_name': project, 'project_domain_name': DOMAIN}

    def token(self, user, project=None):
        """A project-scoped token for one of USERS."""
        password, default_project, _roles = USERS[user]
        headers, _ = _call('POST', f'{self.keystone_url}/auth/tokens', {
            'auth': {
                'identity': {'methods': ['password'], 'password': {'user': {
                    'name': user, 'password': password,
                    'domain': {'name': DOMAIN}}}},
                'scope': {'project': {'name': project or default_project,
                                      'domain': {'name': DOMAIN}}},
            }})
        return headers['X-Subject-Token']

    # -- setup

    def _prepare_dirs(self):
        """Fresh DBs on tmpfs and fresh Glance data, so the two agree."""
        shm = Path('/dev/shm')
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
        self._db_dir = Path(tempfile.mkdtemp(prefix='hii-stack-', dir=base))
        shutil.rmtree(self.state_dir / 'glance' / 'data', ignore_errors=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in ('keystone', 'keystone-manage', 'glance', 'glance-manage'):
            (self.log_dir / f'{name}.log').write_text('')

    def _start_keystone(self, deadline):
        etc = self.state_dir / 'keystone'
        etc.mkdir(parents=True, exist_ok=True)
        keys = {name: etc / name for name in
                ('fernet-keys', 'receipt-keys', 'credential-keys')}
        for path in keys.values():
            _fernet_repo(path)
        conf = etc / 'keystone.conf'
        conf.write_text(_render_ini({
            'DEFAULT': {'debug': False},
            'database': {
                'connection': _sqlite_url(self._db_dir / 'keystone.db')},
            'token': {'provider': 'fernet',
                      'expiration': self.token_expiration},
            'fernet_tokens': {'key_repository': keys['fernet-keys']},
            'fernet_receipts': {'key_repository': keys['receipt-keys']},
            'credential': {'key_repository': keys['credential-keys']},
            'identity': {'password_hash_rounds': 4},
        }))
        (etc / 'keystone_wsgi.py').write_text(KEYSTONE_WSGI)

        manage = [str(venv_dir('keystone') / 'bin' / 'keystone-manage'),
                  '--config-file', str(conf)]
        self._manage('keystone-manage', manage + ['db_sync'], deadline)
        _write_ahead_log(self._db_dir / 'keystone.db')
        self._manage('keystone-manage', manage + [
            'bootstrap', '--bootstrap-password', USERS['admin'][0],
            '--bootstrap-region-id', REGION,
            '--bootstrap-admin-url', self.keystone_url,
            '--bootstrap-internal-url', self.keystone_url,
            '--bootstrap-public-url', self.keystone_url], deadline)

        self._serve('keystone', self.keystone_port,
                    'keystone_wsgi:application', ['--pythonpath', str(etc)],
                    {'OS_KEYSTONE_CONFIG_FILES': str(conf)})
        self._wait_http('keystone', self.keystone_url, deadline)
        self._seed_keystone()

    def _seed_keystone(self):
        """Projects, users, role assignments and the image service."""
        url = self.keystone_url
        headers, _ = _call('POST', f'{url}/auth/tokens', {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': 'admin', 'password': USERS['admin'][0],
                'domain': {'name': DOMAIN}}}},
            'scope': {'system': {'all': True}}}})
        token = headers['X-Subject-Token']

        def api(method, path, body=None):
            return _call(method, url + path, body, token)[1]

        roles = {r['name']: r['id'] for r in api('GET', '/roles')['roles']}
        self.project_ids = {
            p['name']: p['id'] for p in api('GET', '/projects')['projects']}
        for name in PROJECTS:
            if name not in self.project_ids:
                self.project_ids[name] = api('POST', '/projects', {'project': {
                    'name': name, 'domain_id': 'default'}})['project']['id']
        self.user_ids = {
            u['name']: u['id'] for u in api('GET', '/users')['users']}
        for name, (password, project, user_roles) in USERS.items():
            if name not in self.user_ids:
                self.user_ids[name] = api('POST', '/users', {'user': {
                    'name': name, 'password': password, 'domain_id': 'default',
                    'default_project_id': self.project_ids[project],
                }})['user']['id']
            for role in user_roles:
                api('PUT', f'/projects/{self.project_ids[project]}/users/'
                           f'{self.user_ids[name]}/roles/{roles[role]}')
        service = api('POST', '/services', {'service': {
            'name': 'glance', 'type': 'image'}})['service']['id']
        for interface in ('public', 'internal', 'admin'):
            api('POST', '/endpoints', {'endpoint': {
                'service_id': service, 'interface': interface,
                'url': self.glance_url, 'region_id': REGION}})
        if self.image_limits is not None:
            api('POST', '/registered_limits', {'registered_limits': [
                {'service_id': service, 'region_id': REGION,
                 'resource_name': name, 'default_limit': value}
                for name, value in self.image_limits.items()]})

    def _start_glance(self, deadline):
        venv = venv_dir('glance')
        etc = self.state_dir / 'glance'
        data = etc / 'data'
        for sub in ('images', 'staging', 'tasks'):
            (data / sub).mkdir(parents=True, exist_ok=True)
        (etc / 'locks').mkdir(exist_ok=True)
        shutil.copy(venv / 'etc' / 'glance' / 'glance-api-paste.ini', etc)
        keystone_root = f'http://127.0.0.1:{self.keystone_port}'
        sections = {
            'DEFAULT': {
                'debug': False,
                'enabled_backends': 'fs:file',
                'enabled_import_methods':
                    ['glance-direct', 'web-download', 'copy-image'],
            },
            'database': {
                'connection': _sqlite_url(self._db_dir / 'glance.db')},
            'glance_store': {'default_backend': 'fs'},
            'fs': {'filesystem_store_datadir': data / 'images'},
            'os_glance_staging_store': {
                'filesystem_store_datadir': data / 'staging'},
            'os_glance_tasks_store': {
                'filesystem_store_datadir': data / 'tasks'},
            'keystone_authtoken': {
                'www_authenticate_uri': keystone_root,
                'auth_url': keystone_root,
                'auth_type': 'password',
                'username': 'glance',
                'password': USERS['glance'][0],
                'project_name': 'service',
                'user_domain_name': DOMAIN,
                'project_domain_name': DOMAIN,
            },
            'paste_deploy': {'flavor': 'keystone'},
            'oslo_concurrency': {'lock_path': etc / 'locks'},
        }
        if self.image_limits is not None:
            # Unified limits: Glance reads them from Keystone as its user.
            sections['DEFAULT']['use_keystone_limits'] = True
            sections['oslo_limit'] = {
                key: value for key, value
                in sections['keystone_authtoken'].items()
                if key != 'www_authenticate_uri'}
            sections['oslo_limit'].update(endpoint_service_type='image',
                                          endpoint_region_name=REGION)
        for section, options in self.glance_options.items():
            sections.setdefault(section, {}).update(options)
        (etc / 'glance-api.conf').write_text(_render_ini(sections))

        manage = [str(venv / 'bin' / 'glance-manage'),
                  '--config-dir', str(etc)]
        self._manage('glance-manage', manage + ['db_sync'], deadline)
        _write_ahead_log(self._db_dir / 'glance.db')
        self._manage('glance-manage', manage + [
            'db_load_metadefs', str(venv / 'etc' / 'glance' / 'metadefs')],
            deadline)

        self._serve('glance', self.glance_port, 'glance.wsgi.api:application',
                    [], {'OS_GLANCE_CONFIG_DIR': str(etc)})
        self._wait_http('glance', f'{self.glance_url}/versions', deadline)

    def _check_demo_can_list_images(self):
        token = self.token('demo')
        _call('GET', f'{self.glance_url}/v2/images', token=token)

    # -- processes

    def _check_cancel(self):
        if self._cancel.is_set():
            raise RuntimeError('start cancelled')

    def _manage(self, log_name, cmd, deadline):
        """Run a *-manage command, logging to ``log_name``."""
        log = self.log_dir / f'{log_name}.log'
        with open(log, 'a') as out:
            out.write(f'$ {" ".join(cmd)}\n')
            out.flush()
            with subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL) as proc:
                while (returncode := proc.poll()) is None:
                    if self._cancel.is_set() or time.monotonic() > deadline:
                        proc.kill()
                        raise RuntimeError(f'{cmd[-1]} cancelled or timed out')
                    time.sleep(0.1)
        if returncode:
            raise RuntimeError(f'{cmd[0]} {cmd[-1]} failed '
                               f'(rc {returncode}):\n{_tail(log)}')

    def _serve(self, name, port, app, extra_args, env):
        self._check_cancel()
        gunicorn = venv_dir(name) / 'bin' / 'gunicorn'
        config = self.state_dir / name / 'gunicorn_sqlite.py'
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(SQLITE_WRITERS)
        cmd = [str(gunicorn), '--config', str(config),
               '--bind', f'127.0.0.1:{port}',
               *SERVERS[name],
               '--timeout', '300', '--graceful-timeout', '5',
               '--no-control-socket',
               *extra_args, app]
        with open(self.log_dir / f'{name}.log', 'a') as log:
            self._procs[name] = subprocess.Popen(
                cmd, env={**os.environ, **env}, cwd=self.state_dir,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def _wait_http(self, name, url, deadline):
        """Until ``url`` answers at all (any HTTP status)."""
        proc = self._procs[name]
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f'{name} exited with {proc.returncode}:\n'
                    f'{_tail(self.log_dir / f"{name}.log")}')
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f'{name} did not answer at {url}:\n'
                    f'{_tail(self.log_dir / f"{name}.log")}')
            self._check_cancel()
            try:
                # Short timeout: stay responsive to cancel while workers boot.
                urllib.request.urlopen(url, timeout=1).close()
                return
            except urllib.error.HTTPError:
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)


def started(state_dir, say=None, **options):
    """A ``Stack`` of its own on free ports under ``state_dir``, started
    (``say`` is told how long that took)."""
    stack = Stack(state_dir, keystone_port=free_port(),
                  glance_port=free_port(), **options)
    began = time.monotonic()
    stack.start()
    if say:
        say('stack up in %.1f s' % (time.monotonic() - began))
    return stack


# ---------------------------------------------------------------- CLI

def interrupt_on_signals():
    """Ctrl-C, ``kill -INT`` and ``kill -TERM`` all raise
    KeyboardInterrupt, so the ``finally`` blocks stop what was started
    (SIGINT too: shells start background jobs with it ignored)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)


def _cmd_up(args):
    state = Path(args.state)
    info_file = state / 'stack.json'
    interrupt_on_signals()
    stack = Stack(state, args.keystone_port, args.glance_port)
    try:
        began = time.monotonic()
        stack.start()
        info = {**stack.info(), 'cli_pid': os.getpid()}
        tmp = info_file.with_suffix('.tmp')
        tmp.write_text(json.dumps(info, indent=2) + '\n')
        tmp.replace(info_file)
        print(f'stack up in {time.monotonic() - began:.1f}s: '
              f'keystone {stack.keystone_url}, glance {stack.glance_url}; '
              f'info in {info_file}', flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # let the cleanup finish
        stack.stop()
        info_file.unlink(missing_ok=True)


def _cmd_down(args):
    info_file = Path(args.state) / 'stack.json'
    try:
        info = json.loads(info_file.read_text())
    except FileNotFoundError:
        print(f'no {info_file}; nothing to stop', file=sys.stderr)
        return
    cli_pid = info.get('cli_pid')
    if cli_pid and b'stack' in _cmdline(cli_pid):
        os.kill(cli_pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _cmdline(cli_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    leftovers = [pgid for pgid in info.get('pids', {}).values()
                 if any(b'gunicorn' in _cmdline(pid)
                        for pid in _group_members(pgid))]
    if leftovers:
        _terminate_groups(leftovers)
    if info.get('db_dir'):
        shutil.rmtree(info['db_dir'], ignore_errors=True)
    info_file.unlink(missing_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('install', help='create the service virtualenvs')
    up = sub.add_parser('up', help='start and stay in the foreground')
    up.add_argument('--state', required=True)
    up.add_argument('--keystone-port', type=int, default=5000)
    up.add_argument('--glance-port', type=int, default=9292)
    down = sub.add_parser('down', help='stop the stack recorded in --state')
    down.add_argument('--state', required=True)
    args = parser.parse_args(argv)
    if args.command == 'install':
        ensure_venvs()
    elif args.command == 'up':
        _cmd_up(args)
    else:
        _cmd_down(args)


if __name__ == '__main__':
    main()
