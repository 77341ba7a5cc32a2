"""The README's two commands: ``tools/demo`` and ``tools/test``.

Stdlib only, so a fresh machine needs nothing but Python 3.11+. Installs
what is missing (Debian packages when root; virtualenvs under the cache
dir, reused while the requirement files are unchanged), then runs.
"""

import argparse
import hashlib
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import dashboard  # noqa: E402
from tools.fileserver import FileServer  # noqa: E402
from tools import images  # noqa: E402
from tools import signing  # noqa: E402
from tools import stack as stack_tool  # noqa: E402

# command -> Debian package
SYSTEM_PACKAGES = {'qemu-img': 'qemu-utils', 'nbdcopy': 'libnbd-bin',
                   'chromium': 'chromium',
                   'xz': 'xz-utils', 'bzip2': 'bzip2', 'zstd': 'zstd',
                   'openssl': 'openssl',
                   # verifies signed checksum files; gpg makes test keys
                   'gpgv': 'gpgv', 'gpg': 'gpg',
                   # serves the static files of the operator tests' Horizon
                   'nginx': 'nginx',
                   'redis-server': 'redis-server',
                   'rabbitmq-server': 'rabbitmq-server',
                   # builds mysqlclient, the MariaDB driver
                   'mariadb_config': 'libmariadb-dev'}
# The servers the tests use on loopback (brokers, and the databases the
# job store is tested on): port -> how to start it if it is not running.
SERVICES = {
    6379: "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 "
          "--save '' --appendonly no",
    5672: 'rabbitmq-server -detached',
    5432: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) '
          'main start',
    3306: 'start-stop-daemon --start --oknodo --background '
          '--exec /usr/sbin/mariadbd',
}
REQUIREMENT_FILES = ('requirements.txt', 'test-requirements.txt')
DATABASE_TESTS = (
    'tests/unit/test_models.py', 'tests/unit/worker/test_runner.py',
    'tests/unit/management/test_importer.py',
    'tests/unit/dashboards/project/image_imports/test_tables.py',
    'tests/unit/test_limits.py')


def say(text):
    print(text, file=sys.stderr, flush=True)


def ensure_system_packages():
    # Servers such as nginx live in sbin, which a user's PATH may lack.
    path = os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin', '/sbin'])
    missing = sorted({pkg for cmd, pkg in SYSTEM_PACKAGES.items()
                      if not shutil.which(cmd, path=path)})
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit('Missing Debian packages: %s. Install them with\n'
                 '  sudo apt-get install -y %s\nand run this again.'
                 % (', '.join(missing), ' '.join(missing)))
    say('installing Debian packages: %s' % ' '.join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    subprocess.run(['apt-get', 'update', '-qq'], check=True, env=env)
    subprocess.run(['apt-get', 'install', '-y', '-qq', *missing], check=True,
                   env=env)


def listening(port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(('127.0.0.1', port)) == 0


def ensure_services(timeout=60):
    """Start Redis, RabbitMQ, PostgreSQL and MariaDB on loopback if they
    are not running (the python-svc machines and CI have all four)."""
    for port, cmd in SERVICES.items():
        if listening(port):
            continue
        say('starting: %s' % cmd)
        subprocess.run(cmd, shell=True, check=True,
                       stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not listening(port):
            if time.monotonic() > deadline:
                sys.exit('nothing listens on 127.0.0.1:%d after: %s'
                         % (port, cmd))
            time.sleep(0.5)


def horizon_venv():
    """Horizon 27 + this plugin (editable) + test tools, in one venv."""
    digest = hashlib.sha256()
    for name in REQUIREMENT_FILES:
        digest.update((ROOT / name).read_bytes())
    reqs = []
    for name in REQUIREMENT_FILES:
        reqs += ['-r', str(ROOT / name)]
    path = stack_tool.venv_dir('horizon')
    stack_tool.ensure_venv(path, reqs, marker=digest.hexdigest())
    editable = path / '.hii-editable'
    if not editable.exists() or editable.read_text() != str(ROOT):
        subprocess.run([str(path / 'bin' / 'pip'), 'install', '-q',
                        '--no-deps', '-e', str(ROOT)], check=True)
        editable.write_text(str(ROOT))
    return path


def prepare():
    ensure_system_packages()
    stack_tool.ensure_venvs()
    return horizon_venv()


# The case the product exists for: Ubuntu's s390x cloud image, a qcow2
# named .img (here 2 GiB virtual, 1 MiB of data).
S390X_SAMPLE = 'jammy-server-cloudimg-s390x.img'


def make_samples(directory):
    directory.mkdir(parents=True, exist_ok=True)
    sample = directory / 'demo-disk.qcow2'
    if not sample.exists():
        images.make_qcow2(str(directory), sample.name, size=256 * 1024 ** 2)
    if not (directory / S390X_SAMPLE).exists():
        images.make_sparse_qcow2(str(directory), S390X_SAMPLE, 2 * 1024 ** 3)
    return sample


DEMO_SIGNER = 'Demo Cloud Images (test key) <images@demo.invalid>'


def sign_samples(samples, state):
    """Publish the samples as Ubuntu does (SHA256SUMS and its detached
    signature) with a test key the demo's cloud trusts; returns the
    ``Publisher`` and the trusted keys folder."""
    with signing.Publisher(state / 'demo-signing-key',
                           DEMO_SIGNER) as publisher:
        keys = publisher.export(str(state / 'trusted-keys'), armor=True)
        sums = samples / 'SHA256SUMS'
        files = [samples / 'demo-disk.qcow2', samples / S390X_SAMPLE]
        if not sums.exists() or any(
                f.stat().st_mtime > sums.stat().st_mtime for f in files):
            lines = ''.join('%s *%s\n' % (_sha256(f), f.name)
                            for f in files)
            (samples / 'SHA256SUMS.gpg').write_bytes(
                publisher.detached(lines.encode()))
            sums.write_text(lines)
    return publisher, keys


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def cmd_demo(args):
    started = time.monotonic()
    venv = prepare()
    state = Path(args.state or stack_tool.cache_dir() / 'demo')
    state.mkdir(parents=True, exist_ok=True)
    sample = make_samples(state / 'samples')
    publisher, trusted_keys = sign_samples(sample.parent, state)
    stop = []
    # Shells start background jobs with SIGINT ignored; Ctrl-C and
    # "kill -INT" must stop the demo all the same, as must SIGTERM.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        stack = stack_tool.Stack(str(state / 'stack'))
        stop.append(stack.stop)
        stack.start()
        samples = FileServer(sample.parent, port=args.sample_port,
                             listing=True)
        samples.__enter__()
        stop.append(lambda: samples.__exit__(None, None, None))
        dash = dashboard.Dashboard(
            venv, state / 'dashboard', stack.keystone_url, port=args.port,
            url_allowlist=['127.0.0.1:%d' % samples.port],
            # Jobs run on a trust to the importer's service user, as a
            # production cloud would set it up.
            importer={'SERVICE_AUTH': stack.service_auth(),
                      # Trusts the test key that signs the samples'
                      # SHA256SUMS.
                      'TRUSTED_KEYS_DIR': trusted_keys})
        stop.append(dash.stop)
        dash.prepare()
        dash.start()
        print(BANNER.format(
            horizon=dash.url, samples=sample.parent,
            sample_url=samples.url(sample.name),
            s390x_url=samples.url(S390X_SAMPLE), state=state,
            fingerprint=publisher.fingerprint,
            seconds=time.monotonic() - started), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        say('stopping...')
        for func in reversed(stop):
            func()
        say('stopped.')


BANNER = '''
horizon-image-importer demo is running (started in {seconds:.0f} s)

  Horizon:      {horizon}/   (Project > Compute > Image Imports)
  Logins:       demo / demo   (member of project demo)
                admin / admin (cloud admin)
  Sample files: {samples}
                any file put there can be imported by its URL
  Try this URL: {sample_url}
  or this one:  {s390x_url}
                (Check URL: a qcow2 named .img, s390x / ubuntu 22.04)
  Checksums:    SHA256SUMS beside the samples, signed by a test key
                the demo trusts ({fingerprint})
  State, logs:  {state}

Press Ctrl-C to stop everything.
'''


def cmd_test(args):
    venv = prepare()
    ensure_services()
    env = dict(os.environ, TMPDIR=tempfile.gettempdir())
    # The linters as pre-commit runs them (.pre-commit-config.yaml), with
    # this virtualenv's flake8, hacking and bandit.
    lint = subprocess.run(
        [str(venv / 'bin' / 'pre-commit'), 'run', '--all-files'], cwd=ROOT,
        env=dict(env, PATH='%s:%s' % (venv / 'bin', env.get('PATH', ''))))
    pytest = [str(venv / 'bin' / 'python'), '-m', 'pytest']
    results = [subprocess.run(pytest + args.pytest_args, cwd=ROOT,
                              env=env).returncode]
    if not args.pytest_args:
        # The job store's state machine again on PostgreSQL and MariaDB.
        for database in ('postgresql', 'mysql'):
            say('job store tests on %s' % database)
            results.append(subprocess.run(
                pytest + ['-q', *DATABASE_TESTS], cwd=ROOT,
                env=dict(env, HII_TEST_DATABASE=database)).returncode)
    if lint.returncode:
        say('the linters found problems (above)')
    return next((code for code in results if code), lint.returncode)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    demo = sub.add_parser('demo', help='start the whole thing')
    demo.add_argument('--state', help='state dir (default: cache dir/demo)')
    demo.add_argument('--port', type=int, default=8000,
                      help='Horizon port (default 8000)')
    demo.add_argument('--sample-port', type=int, default=8765,
                      help='sample file server port (default 8765)')
    sub.add_parser('test', help='lint and run the whole test suite; '
                   'further arguments go to pytest')
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != 'test':
        parser.error('unrecognized arguments: %s' % ' '.join(rest))
    args.pytest_args = rest
    return {'demo': cmd_demo, 'test': cmd_test}[args.command](args) or 0


if __name__ == '__main__':
    sys.exit(main())
