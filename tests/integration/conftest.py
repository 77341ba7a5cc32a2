import pytest
from glanceclient import client as glance_client
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session

from tools.fileserver import FileServer


@pytest.fixture(scope='session')
def demo_session(stack):
    auth = v3.Password(auth_url=stack.keystone_url, username='demo',
                       password='demo', user_domain_id='default',
                       project_name='demo', project_domain_id='default')
    return ks_session.Session(auth=auth)


@pytest.fixture(scope='session')
def demo_glance(demo_session):
    return glance_client.Client('2', session=demo_session)


@pytest.fixture
def sample_server(tmp_path_factory):
    root = tmp_path_factory.mktemp('samples')
    with FileServer(root) as server:
        yield server


@pytest.fixture
def importer_settings(settings, sample_server, tmp_path):
    """Worker settings for a test: only the sample server is reachable."""
    work_dir = tmp_path / 'work'
    settings.IMAGE_IMPORTER = dict(
        settings.IMAGE_IMPORTER,
        WORK_DIR=str(work_dir),
        URL_ALLOWLIST=['127.0.0.1:%d' % sample_server.port],
        PROGRESS_INTERVAL=0.1)
    return settings.IMAGE_IMPORTER
