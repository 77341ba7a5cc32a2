"""Install this plugin's enabled files into Horizon.

``image-importer-enable`` copies ``_1051_project_image_imports_panel.py``
(and any other enabled file of the plugin) into Horizon's
``openstack_dashboard/local/enabled/``, which Horizon reads at start.
"""

import argparse
import glob
import os
import shutil
import sys


def enabled_files():
    """The enabled files: installed under share/, or in a source tree."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = [
        os.path.join(sys.prefix, 'share', 'horizon-image-importer',
                     'enabled'),
        os.path.join(os.path.dirname(here), 'enabled'),
    ]
    for folder in candidates:
        files = sorted(glob.glob(os.path.join(folder, '_[0-9]*.py')))
        if files:
            return files
    raise SystemExit('No enabled files found in %s' % ' or '.join(candidates))


def default_target():
    import openstack_dashboard
    return os.path.join(os.path.dirname(openstack_dashboard.__file__),
                        'local', 'enabled')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--target', help='folder to copy to (default: '
                        'openstack_dashboard/local/enabled of this Python)')
    args = parser.parse_args(argv)
    target = args.target or default_target()
    os.makedirs(target, exist_ok=True)
    for path in enabled_files():
        shutil.copy(path, target)
        print('installed %s' % os.path.join(target, os.path.basename(path)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
