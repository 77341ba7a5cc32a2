"""The operator documentation stays true to the code: docs/operations.md's
settings reference, the systemd units in deploy/systemd/ and the reno
release notes."""

import ast
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

from image_importer import conf

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / 'docs' / 'operations.md'
UNITS = ROOT / 'deploy' / 'systemd'
NOTES = ROOT / 'releasenotes' / 'notes'

# A settings table row: | `KEY` | `default` ... | meaning |
ROW = re.compile(r'^\| `([A-Z][A-Z0-9_]*)` \| `([^`]*)`', re.MULTILINE)
# reno's default sections (reno.config), and its note file names.
RENO_SECTIONS = {'prelude', 'features', 'issues', 'upgrade', 'deprecations',
                 'critical', 'security', 'fixes', 'other'}
NOTE_NAME = re.compile(r'^[a-z0-9][a-z0-9-]*-[0-9a-f]{16}\.yaml$')
# Text of reno's note template, which a real note replaces.
TEMPLATE_TEXT = ('Replace this text', 'or remove this section')


def settings_rows():
    """(key, default) of each row under "## Settings reference"."""
    text = OPERATIONS.read_text()
    start = text.index('\n## Settings reference\n')
    end = text.find('\n## ', start + 1)
    return ROW.findall(text[start:end if end != -1 else None])


def documented_default(text):
    """The value a default cell stands for: a Python literal, or a path
    under Python's temporary folder written ``$TMPDIR/name`` (``$UID``:
    this process's user id)."""
    if text.startswith('$TMPDIR/'):
        return os.path.join(tempfile.gettempdir(), text[len('$TMPDIR/'):]
                            .replace('$UID', str(os.geteuid())))
    return ast.literal_eval(text)


def units():
    return sorted(UNITS.glob('*.service'))


def exec_start(unit):
    """The ExecStart= command of a unit, continuation lines joined."""
    text = unit.read_text().replace('\\\n', ' ')
    commands = re.findall(r'^ExecStart=(.*)$', text, re.MULTILINE)
    assert len(commands) == 1, '%s: %d ExecStart= lines' % (
        unit.name, len(commands))
    return ' '.join(commands[0].split())


def test_settings_table_lists_every_setting_once():
    keys = [key for key, _default in settings_rows()]

    assert sorted(set(conf.DEFAULTS) - set(keys)) == [], (
        'settings missing from docs/operations.md\'s settings reference')
    assert sorted(set(keys) - set(conf.DEFAULTS)) == [], (
        'docs/operations.md documents settings image_importer.conf does '
        'not have')
    assert len(keys) == len(set(keys)), 'a setting is documented twice'


def test_settings_table_defaults_match_conf():
    wrong = {key: (cell, conf.DEFAULTS[key])
             for key, cell in settings_rows()
             if documented_default(cell) != conf.DEFAULTS[key]}

    assert wrong == {}, 'documented default (cell, real value) differs'


def test_systemd_units_run_the_importer_celery_app():
    found = {unit.name: exec_start(unit) for unit in units()}

    assert set(found) == {'horizon-image-importer-worker.service',
                          'horizon-image-importer-worker@.service',
                          'horizon-image-importer-beat.service'}
    for name, command in found.items():
        assert '-m celery -A image_importer.worker ' in command, name
        text = (UNITS / name).read_text()
        assert ('Environment=DJANGO_SETTINGS_MODULE='
                'openstack_dashboard.settings') in text, name
        assert 'Restart=on-failure' in text, name
        assert 'KillMode=mixed' in text, name
    assert ' beat ' in found['horizon-image-importer-beat.service']
    for name in ('horizon-image-importer-worker.service',
                 'horizon-image-importer-worker@.service'):
        command = found[name]
        assert ' worker ' in command and '--beat' not in command, name
        # systemd expands %h (the home folder) itself: Celery's host name
        # must be written %%h.
        assert re.search(r'--hostname \S+@%%h\b', command), name
        assert not re.search(r'(?<!%)%h', command), name
    assert '%i@%%h' in found['horizon-image-importer-worker@.service']


def test_reno_lint_passes():
    result = subprocess.run(
        [sys.executable, '-c',
         'import sys; from reno.main import main; '
         'sys.exit(main(sys.argv[1:]))', 'lint'],
        cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr


def test_release_notes_use_reno_sections_and_file_names():
    notes = sorted(NOTES.glob('*'))
    assert notes, 'no release notes in releasenotes/notes/'

    for path in notes:
        assert NOTE_NAME.match(path.name), (
            '%s: not a reno note name (make notes with "reno new SLUG")'
            % path.name)
        note = yaml.safe_load(path.read_text())
        assert isinstance(note, dict) and note, path.name
        assert set(note) <= RENO_SECTIONS, (path.name, set(note))
        for section, content in note.items():
            items = [content] if section == 'prelude' else content
            assert isinstance(items, list) and items, (path.name, section)
            for item in items:
                assert isinstance(item, str) and item.strip(), (
                    path.name, section)
                assert not any(t in item for t in TEMPLATE_TEXT), (
                    '%s: reno\'s template text left in %s'
                    % (path.name, section))


def test_upgrade_notes_name_every_migration():
    migrations = sorted(
        p.stem for p in (ROOT / 'image_importer' / 'migrations').glob(
            '[0-9][0-9][0-9][0-9]_*.py') if p.stem != '0001_initial')
    upgrade = ' '.join(
        item for path in NOTES.glob('*.yaml')
        for item in (yaml.safe_load(path.read_text()) or {}).get(
            'upgrade', []))
    text = OPERATIONS.read_text()

    for name in migrations:
        assert name in upgrade, '%s has no upgrade release note' % name
        assert name in text, '%s missing from docs/operations.md' % name
