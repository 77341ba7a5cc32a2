"""Signed checksum files verified with gpgv, keys made here with gpg."""

import os

import pytest

from image_importer.engine import signature
from tools.signing import Publisher

SUMS = b'%s *disk.img\n' % (b'a' * 64)


@pytest.mark.parametrize('armor', [False, True])
def test_a_detached_signature_by_a_trusted_key(publisher, tmp_path, armor):
    keys = publisher.export(str(tmp_path / 'keys'), armor=armor)

    verdict = signature.verify(SUMS, publisher.detached(SUMS), keys)

    assert (verdict.outcome, verdict.fingerprint, verdict.signer) == (
        signature.SIGNED, publisher.fingerprint,
        'Test Cloud Images <images@example.org>')
    assert verdict.signed_text == SUMS


def test_a_clearsigned_file_gives_only_what_was_signed(publisher, tmp_path):
    keys = publisher.export(str(tmp_path / 'keys'))
    signed = publisher.clearsigned(SUMS)
    # Lines put before or after the signed block are not signed.
    tampered = b'%s *evil.img\n' % (b'b' * 64) + signed + b'c' * 64 + \
        b' *disk.img\n'

    verdict = signature.verify(tampered, b'', keys)

    assert verdict.outcome == signature.SIGNED
    assert verdict.signed_text.strip() == SUMS.strip()


def test_an_altered_file_has_a_bad_signature(publisher, tmp_path):
    keys = publisher.export(str(tmp_path / 'keys'))
    sig = publisher.detached(SUMS)

    verdict = signature.verify(SUMS.replace(b'a', b'b', 1), sig, keys)

    assert verdict.outcome == signature.BAD
    assert not verdict.trusted and verdict.signed_text == b''


def test_a_signature_by_a_key_not_trusted_here(publisher, stranger,
                                               tmp_path):
    keys = publisher.export(str(tmp_path / 'keys'))

    verdict = signature.verify(SUMS, stranger.detached(SUMS), keys)

    assert verdict.outcome == signature.UNKNOWN_KEY


def test_no_trusted_keys_at_all_means_an_unknown_key(publisher, tmp_path):
    verdict = signature.verify(SUMS, publisher.detached(SUMS),
                               str(tmp_path / 'none'))

    assert verdict.outcome == signature.UNKNOWN_KEY


def test_a_signature_by_an_expired_key(tmp_path):
    with Publisher(tmp_path / 'old', 'Old Images <old@example.org>',
                   expire='1d', when='20200101T000000') as old:
        keys = old.export(str(tmp_path / 'keys'))
        signed = old.detached(SUMS)

    verdict = signature.verify(SUMS, signed, keys)

    assert verdict.outcome == signature.EXPIRED_KEY


def test_garbage_for_a_signature_is_a_bad_signature(publisher, tmp_path):
    keys = publisher.export(str(tmp_path / 'keys'))

    verdict = signature.verify(SUMS, b'<html>not found</html>', keys)

    assert verdict.outcome == signature.BAD


def agents_of(home):
    """gpg-agent processes serving ``home``."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmdline = f.read().split(b'\0')
        except OSError:
            continue
        if cmdline[0].endswith(b'gpg-agent') and str(home).encode() in \
                cmdline:
            found.append(pid)
    return found


def test_a_publisher_leaves_no_gpg_agent_behind(tmp_path):
    home = tmp_path / 'home'
    with Publisher(home, 'Brief <brief@example.org>') as brief:
        brief.detached(SUMS)
        assert agents_of(home)     # signing needs gpg's agent

    assert agents_of(home) == []
