"""Settings come through one accessor, typed by their defaults; WORK_DIR
and STATE_DIR are private folders of the user the importer runs as, never
shared paths anyone can plant files in."""

import os
import stat

from django.core.exceptions import ImproperlyConfigured
import pytest

from image_importer import conf
from image_importer.worker import celery as celery_app
from image_importer.worker import workdir


@pytest.fixture
def configured(settings):
    def configure(**values):
        settings.IMAGE_IMPORTER = values
    return configure


def test_unset_settings_are_the_defaults(configured):
    configured()
    assert conf.get('LEASE_SECONDS') == 300
    assert conf.get('HEARTBEAT_SECONDS') == 3.0
    assert conf.get('CA_BUNDLE') is None


@pytest.mark.parametrize('name, given, expected', [
    ('LEASE_SECONDS', '120', 120),          # text, as from an environment
    ('LEASE_SECONDS', 120.0, 120),
    ('DOWNLOAD_DEADLINE', 1.5, 1.5),        # a fraction stays one
    ('HEARTBEAT_SECONDS', 2, 2.0),
    ('OVERLAP_UPLOAD', 0, False),
    ('URL_ALLOWLIST', ['10.0.0.0/8'], ('10.0.0.0/8',)),
])
def test_values_take_their_defaults_type(configured, name, given, expected):
    configured(**{name: given})

    value = conf.get(name)

    assert value == expected and type(value) is type(expected)


def test_a_value_of_the_wrong_kind_names_the_setting(configured):
    configured(LEASE_SECONDS='five minutes')

    with pytest.raises(ImproperlyConfigured) as refused:
        conf.get('LEASE_SECONDS')

    assert str(refused.value) == (
        "IMAGE_IMPORTER['LEASE_SECONDS'] = 'five minutes': a number "
        "expected, as its default 300")


# -- private folders ----------------------------------------------------------

NOBODY = 65534


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_defaults_are_per_user():
    for name in ('WORK_DIR', 'STATE_DIR'):
        assert conf.DEFAULTS[name].endswith('-%d' % os.geteuid())


def test_a_missing_folder_is_made_private(settings, tmp_path):
    settings.IMAGE_IMPORTER = {'WORK_DIR': str(tmp_path / 'a' / 'work')}
    with workdir.work_dir('job-1', wait=0) as path:
        assert os.path.isdir(path)
    assert mode(tmp_path / 'a' / 'work') == 0o700


def test_an_open_folder_of_ours_is_made_private(settings, tmp_path):
    state = tmp_path / 'state'
    state.mkdir()
    os.chmod(state, 0o1777)
    settings.IMAGE_IMPORTER = {'STATE_DIR': str(state)}

    config = celery_app.celery_config()

    assert mode(state) == 0o700
    assert config['beat_schedule_filename'] == str(state / 'beat-schedule')


@pytest.mark.parametrize('name', ['WORK_DIR', 'STATE_DIR'])
def test_someone_elses_folder_is_refused(settings, tmp_path, name):
    if os.geteuid() != 0:
        pytest.fail('this test gives a folder to another user: run the '
                    'suite as root, as CI does')
    planted = tmp_path / 'shared'
    planted.mkdir()
    os.chmod(planted, 0o777)
    os.chown(planted, NOBODY, NOBODY)
    settings.IMAGE_IMPORTER = {name: str(planted)}

    with pytest.raises(ImproperlyConfigured) as refused:
        if name == 'STATE_DIR':
            celery_app.celery_config()
        else:
            with workdir.work_dir('job-1', wait=0):
                pass

    assert 'belongs to user id %d' % NOBODY in str(refused.value)
    assert os.listdir(planted) == []


def test_a_symbolic_link_is_refused(settings, tmp_path):
    target = tmp_path / 'elsewhere'
    target.mkdir(mode=0o700)
    link = tmp_path / 'state'
    link.symlink_to(target)
    settings.IMAGE_IMPORTER = {'STATE_DIR': str(link)}

    with pytest.raises(ImproperlyConfigured) as refused:
        celery_app.celery_config()
    assert 'symbolic link' in str(refused.value)
