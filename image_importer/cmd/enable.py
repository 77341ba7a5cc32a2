"""Install this plugin's enabled files into Horizon.

``image-importer-enable`` copies ``_1051_project_image_imports_panel.py``
(and any other enabled file of the plugin) into Horizon's
``openstack_dashboard/local/enabled/``, which Horizon reads at start.
The files come from the installed package (``share/horizon-image-importer/
enabled/`` under the prefix pip installed it to), or from a source tree.
"""

import argparse
from importlib import metadata
import os
import shutil
import sys

import image_importer

ENABLED_FOLDER = 'share/horizon-image-importer/enabled/'


def _is_enabled_file(name):
    base = os.path.basename(name)
    return base.startswith('_') and base[1:2].isdigit() and \
        base.endswith('.py')


def installed_enabled_files():
    """The enabled files the installed distribution put on disk, wherever
    its install scheme put its data files (a virtualenv, /usr/local,
    ``--user``, ``--prefix``)."""
    try:
        files = metadata.distribution(image_importer.DISTRIBUTION).files
    except metadata.PackageNotFoundError:
        return []
    found = []
    for entry in files or ():
        path = entry.as_posix()
        if ENABLED_FOLDER in path and _is_enabled_file(path):
            located = os.path.abspath(str(entry.locate()))
            if os.path.isfile(located):
                found.append(located)
    return sorted(found, key=os.path.basename)


def source_enabled_files():
    """The enabled files of the source tree the package is imported from
    (an editable install or a checkout), if it is."""
    tree = os.path.dirname(os.path.dirname(
        os.path.abspath(image_importer.__file__)))
    folder = os.path.join(tree, 'enabled')
    if not (os.path.isfile(os.path.join(tree, 'setup.cfg'))
            and os.path.isdir(folder)):
        return []
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if _is_enabled_file(name))


def enabled_files():
    files = source_enabled_files() or installed_enabled_files()
    if not files:
        raise SystemExit(
            'No enabled files found: %s %s is not installed with its data '
            'files. Install it with pip (pip install %s) and run this '
            'again.' % (image_importer.DISTRIBUTION,
                        image_importer.__version__,
                        image_importer.DISTRIBUTION))
    return files


def default_target():
    try:
        import openstack_dashboard
    except ImportError:
        raise SystemExit(
            'Horizon (openstack_dashboard) is not importable by %s: run '
            'this with the Python Horizon runs from, or give --target.'
            % sys.executable)
    return os.path.join(os.path.dirname(openstack_dashboard.__file__),
                        'local', 'enabled')


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='image-importer-enable', description=__doc__.splitlines()[0])
    parser.add_argument('--target', help='folder to copy to (default: '
                        'openstack_dashboard/local/enabled of this Python)')
    parser.add_argument('--list', action='store_true',
                        help='print where the enabled files are; copy '
                        'nothing')
    parser.add_argument('--version', action='version', version='%s %s' % (
        image_importer.DISTRIBUTION, image_importer.__version__))
    args = parser.parse_args(argv)
    files = enabled_files()
    if args.list:
        for path in files:
            print(path)
        return 0
    target = args.target or default_target()
    os.makedirs(target, exist_ok=True)
    for path in files:
        shutil.copy(path, target)
        print('installed %s' % os.path.join(target, os.path.basename(path)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
