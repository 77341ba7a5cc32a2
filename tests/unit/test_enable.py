"""``image-importer-enable`` installs the enabled files into Horizon."""

import importlib.util

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
