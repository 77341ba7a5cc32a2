"""``image-importer-enable`` installs the enabled files into Horizon."""

from importlib import metadata
import importlib.util

import pytest

from image_importer.cmd import enable


def test_enable_copies_the_panel_file(tmp_path, capsys):
    assert enable.main(['--target', str(tmp_path)]) == 0

    copied = tmp_path / '_1051_project_image_imports_panel.py'
    assert copied.exists()
    spec = importlib.util.spec_from_file_location('panel_file', copied)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (module.PANEL, module.PANEL_DASHBOARD, module.PANEL_GROUP) == (
        'image_imports', 'project', 'compute')
    assert module.ADD_INSTALLED_APPS == ['image_importer']
    assert str(copied) in capsys.readouterr().out


def test_enable_version_names_the_distribution(capsys):

    with pytest.raises(SystemExit) as stop:
        enable.main(['--version'])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith('horizon-image-importer ')
    assert out.split()[1] not in ('', 'unknown')


def test_enable_list_copies_nothing(tmp_path, capsys):
    assert enable.main(['--list', '--target', str(tmp_path)]) == 0
    assert list(tmp_path.iterdir()) == []
    listed = capsys.readouterr().out.split()
    assert [p.rsplit('/', 1)[1] for p in listed] == [
        '_1051_project_image_imports_panel.py',
        '_1052_project_image_subscriptions_panel.py',
        '_2161_admin_image_imports_panel.py',
        '_2162_admin_image_subscriptions_panel.py']


class _InstalledFile:
    """A file of an installed distribution, as importlib.metadata lists
    it: a path relative to site-packages."""

    def __init__(self, relative, site_packages):
        self.relative = relative
        self.site_packages = site_packages

    def as_posix(self):
        return self.relative

    def locate(self):
        return self.site_packages / self.relative


def test_enable_finds_the_data_files_of_an_installed_package(
        tmp_path, monkeypatch):
    prefix = tmp_path / 'venv'
    site_packages = prefix / 'lib' / 'python3.11' / 'site-packages'
    enabled = prefix / 'share' / 'horizon-image-importer' / 'enabled'
    enabled.mkdir(parents=True)
    site_packages.mkdir(parents=True)
    for name in ('_1051_a.py', '_2161_b.py', '__init__.py', 'README'):
        (enabled / name).write_text('PANEL = "x"\n')
    files = [_InstalledFile('../../../share/horizon-image-importer/enabled/'
                            + name, site_packages)
             for name in ('_2161_b.py', '_1051_a.py', '__init__.py',
                          'README', '_3000_gone.py')]
    files.append(_InstalledFile('image_importer/_1_not_enabled.py',
                                site_packages))

    class Distribution:
        pass

    Distribution.files = files
    monkeypatch.setattr(metadata, 'distribution', lambda name: Distribution)
    # Not run from a source tree: only the installed files count.
    monkeypatch.setattr(enable, 'source_enabled_files', lambda: [])

    found = enable.enabled_files()

    assert [p.rsplit('/', 1)[1] for p in found] == [
        '_1051_a.py', '_2161_b.py']
    assert all(p.startswith(str(enabled)) for p in found)


def test_enable_without_files_says_how_to_install(monkeypatch):

    monkeypatch.setattr(enable, 'source_enabled_files', lambda: [])
    monkeypatch.setattr(enable, 'installed_enabled_files', lambda: [])
    with pytest.raises(SystemExit) as stop:
        enable.main([])
    assert 'pip install horizon-image-importer' in str(stop.value.code)
