"""Settings come through one accessor, typed by their defaults."""

from django.core.exceptions import ImproperlyConfigured
import pytest

from image_importer import conf


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
