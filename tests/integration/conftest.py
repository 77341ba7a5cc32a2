import pytest

from tools.fileserver import FileServer


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
