"""A publisher's signing key, made with gpg in a home of its own, as a
distribution's release team has one: for the tests and the demo, which
sign checksum files the way Ubuntu, Debian or Fedora do."""

import os
import subprocess


class Publisher:
    """``Publisher(home, uid)`` makes an Ed25519 signing key in ``home``,
    or uses the one made there before (``expire``: gpg's expiry, e.g.
    '1d'; ``when``: gpg's faked system time, to make a key in the
    past)."""

    def __init__(self, home, uid, expire='never', when=None):
        self.home = str(home)
        self.uid = uid
        self.when = when
        if not os.path.isdir(self.home):      # else: the key made before
            os.makedirs(self.home, mode=0o700)
            self.gpg('--quick-gen-key', uid, 'ed25519', 'sign', expire)
        listing = self.gpg('--with-colons', '--list-keys').decode()
        self.fingerprint = next(line.split(':')[9] for line in
                                listing.splitlines()
                                if line.startswith('fpr:'))

    def close(self):
        """Stop the gpg-agent that gpg started for this home (it would
        outlive the tests and the demo)."""
        subprocess.run(['gpgconf', '--homedir', self.home, '--kill', 'all'],
                       capture_output=True, check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def gpg(self, *args, data=b''):
        faked = ['--faked-system-time', self.when] if self.when else []
        return subprocess.run(
            ['gpg', '--homedir', self.home, '--batch', '--yes',
             '--passphrase', '', '--pinentry-mode', 'loopback', *faked,
             *args], input=data, capture_output=True, check=True).stdout

    def export(self, folder, armor=False):
        """Write the public key into ``folder`` (the trusted keys folder
        an operator sets up); returns the folder."""
        os.makedirs(folder, exist_ok=True)
        name = 'publisher.asc' if armor else 'publisher.gpg'
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(self.gpg('--export', *(['--armor'] if armor else [])))
        return folder

    def detached(self, text):
        """A detached signature of ``text`` (as ``SHA256SUMS.gpg``)."""
        return self.gpg('--detach-sign', data=text)

    def clearsigned(self, text):
        """``text`` clearsigned (as Fedora's ``CHECKSUM``)."""
        return self.gpg('--clearsign', data=text)
