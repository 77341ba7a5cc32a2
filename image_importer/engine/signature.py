"""OpenPGP signatures of checksum files, verified as apt verifies its
repositories: with Debian's ``gpgv``, against the keys an operator
trusts, in a process of its own under limits.

The trusted keys are the files of one folder (``*.gpg``, ``*.pgp``,
``*.asc``, ``*.key``; binary or ASCII-armoured, as exported by ``gpg
--export [--armor]``). Nothing is imported into a keyring: each run reads
the folder afresh, with an empty home of its own.
"""

import base64
import dataclasses
import os
import re
import shutil
import tempfile

from oslo_concurrency import processutils

from image_importer.engine import disk

GPGV = shutil.which('gpgv') or '/usr/bin/gpgv'
KEY_SUFFIXES = ('.gpg', '.pgp', '.asc', '.key')
LIMITS = processutils.ProcessLimits(address_space=512 << 20, cpu_time=30)
TIMEOUT = 60
_ARMOR = re.compile(r'-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n(.*?)'
                    r'-----END PGP PUBLIC KEY BLOCK-----', re.DOTALL)

SIGNED = 'signed'                   # a good signature by a trusted key
BAD = 'bad_signature'               # the text or signature was altered
UNKNOWN_KEY = 'unknown_key'         # signed, by no key the cloud trusts
EXPIRED_KEY = 'expired_key'         # by a trusted key, expired or revoked
UNSIGNED = 'unsigned'               # no signature published


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the signature of a checksum file says.

    ``signed_text``: the text the signature covers (a clearsigned file's
    body, without anything put around it), to read the checksum from.
    """

    outcome: str
    fingerprint: str = ''
    signer: str = ''
    signed_text: bytes = b''

    @property
    def trusted(self):
        return self.outcome == SIGNED


def dearmor(text):
    """The binary keys of an ASCII-armoured key file (``gpgv`` reads
    binary keyrings only)."""
    keys = b''
    for block in _ARMOR.findall(text):
        lines = block.split('\n')
        # Armour headers end at the first empty line, if any.
        if '' in lines and any(':' in line for line in
                               lines[:lines.index('')]):
            lines = lines[lines.index('') + 1:]
        body = ''.join(line.strip() for line in lines
                       if line.strip() and not line.startswith('='))
        keys += base64.b64decode(body)
    return keys


def keyrings(folder, into):
    """Write the trusted keys of ``folder`` as binary keyrings in
    ``into``; their paths."""
    paths = []
    if not folder or not os.path.isdir(folder):
        return paths
    for name in sorted(os.listdir(folder)):
        if not name.endswith(KEY_SUFFIXES):
            continue
        with open(os.path.join(folder, name), 'rb') as f:
            data = f.read()
        if b'-----BEGIN PGP PUBLIC KEY BLOCK-----' in data:
            data = dearmor(data.decode('ascii', 'replace'))
        if data:
            path = os.path.join(into, '%d.gpg' % len(paths))
            with open(path, 'wb') as f:
                f.write(data)
            paths.append(path)
    return paths


def verify(text, signature, keys_folder):
    """Verify ``text`` (a checksum file) with its detached ``signature``,
    or as clearsigned when ``signature`` is empty; a ``Verdict``."""
    with tempfile.TemporaryDirectory(prefix='image-importer-gpgv-') as tmp:
        home = os.path.join(tmp, 'home')
        os.mkdir(home, 0o700)
        rings = keyrings(keys_folder, tmp)
        data = os.path.join(tmp, 'data')
        with open(data, 'wb') as f:
            f.write(text)
        out = os.path.join(tmp, 'signed')
        cmd = [GPGV, '--homedir', home, '--status-fd', '1']
        for ring in rings:
            cmd += ['--keyring', ring]
        if signature:
            sig = os.path.join(tmp, 'data.sig')
            with open(sig, 'wb') as f:
                f.write(signature)
            cmd += [sig, data]
        else:
            cmd += ['--output', out, data]
        status = _run(cmd)
        verdict = read_status(status)
        if verdict.trusted:
            signed = text
            if not signature:
                with open(out, 'rb') as f:
                    signed = f.read()
            verdict = dataclasses.replace(verdict, signed_text=signed)
        return verdict


def _run(cmd):
    try:
        out, _err = processutils.execute(
            *disk.limited(LIMITS, cmd), env_variables=disk.child_env(),
            timeout=TIMEOUT, preexec_fn=disk.die_with_parent,
            check_exit_code=False)
    except processutils.ProcessExecutionError as exc:
        return exc.stdout or ''
    return out


def read_status(status):
    """The ``Verdict`` of ``gpgv --status-fd`` lines: signed only with a
    good and valid signature and nothing bad besides."""
    words = [line.split()[1:] for line in status.splitlines()
             if line.startswith('[GNUPG:] ') and len(line.split()) > 1]
    kinds = {w[0] for w in words}
    if kinds & {'BADSIG'}:
        return Verdict(BAD)
    if kinds & {'EXPKEYSIG', 'REVKEYSIG', 'EXPSIG'}:
        return Verdict(EXPIRED_KEY)
    if 'NO_PUBKEY' in kinds or 'ERRSIG' in kinds:
        errsig = [w for w in words if w[0] == 'ERRSIG']
        if errsig and len(errsig[0]) > 6 and errsig[0][6] == '9':
            return Verdict(UNKNOWN_KEY)
        return Verdict(UNKNOWN_KEY if 'NO_PUBKEY' in kinds else BAD)
    good = [w for w in words if w[0] == 'GOODSIG']
    valid = [w for w in words if w[0] == 'VALIDSIG']
    if len(good) == 1 and len(valid) == 1:
        return Verdict(SIGNED, fingerprint=valid[0][-1],
                       signer=' '.join(good[0][2:]))
    return Verdict(BAD)
