"""What setup.cfg tells pbr to put in the sdist and the wheel."""

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def data_files():
    """setup.cfg's [files] data_files as {target folder: [sources]}."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / 'setup.cfg')
    mapping = {}
    target = None
    for line in parser['files']['data_files'].splitlines():
        if '=' in line:
            target, _sep, sources = line.partition('=')
            target = target.strip()
            mapping[target] = sources.split()
        elif line.strip():
            mapping[target] += line.split()
    return mapping


def test_every_enabled_file_is_a_data_file():
    listed = data_files()['share/horizon-image-importer/enabled']
    present = sorted(str(path.relative_to(ROOT))
                     for path in (ROOT / 'enabled').glob('_[0-9]*.py'))
    assert present
    assert sorted(listed) == present


def test_data_files_are_files_or_folders_pbr_can_copy():
    # pbr expands a trailing '*' (every file of a folder) and nothing
    # else: any other glob reaches setuptools as a file name, and building
    # the wheel fails ("can't copy 'enabled/_*.py'").
    for target, sources in data_files().items():
        assert sources, target
        for source in sources:
            if source.endswith('/*'):
                assert (ROOT / source[:-2]).is_dir(), source
            else:
                assert '*' not in source and '?' not in source, source
                assert (ROOT / source).is_file(), source


def test_release_notes_and_operator_guide_are_installed():
    files = data_files()
    assert files['share/doc/horizon-image-importer/releasenotes'] == [
        'releasenotes/notes/*']
    assert 'docs/operations.md' in files['share/doc/horizon-image-importer']


def test_license_is_the_one_the_metadata_names():
    parser = configparser.ConfigParser()
    parser.read(ROOT / 'setup.cfg')
    assert parser['metadata']['license'] == 'Apache-2.0'
    assert 'Apache License' in (ROOT / 'LICENSE').read_text()
    assert 'Version 2.0' in (ROOT / 'LICENSE').read_text()
