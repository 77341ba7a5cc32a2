"""Distributions' real layouts of checksum files beside their cloud
images, to publish a test image the way each of them does (for the tests
and the demo)."""

import dataclasses
import hashlib
import os

CLEARSIGNED = 'clearsigned'


@dataclasses.dataclass(frozen=True)
class Layout:
    """One publisher's way: the image's file name, the checksum file's
    (``{image}``: the image's name), its line style (``gnu``: ``HEX
    *name``; ``bsd``: ``SHA256 (name) = HEX``), the algorithm, and the
    signature: a detached file's name, ``CLEARSIGNED``, or None."""

    image: str
    checksum_file: str
    style: str
    algorithm: str
    signature: str | None = None

    @property
    def checksum_name(self):
        return self.checksum_file.format(image=self.image)

    @property
    def signature_name(self):
        if self.signature in (None, CLEARSIGNED):
            return None
        return self.signature.format(image=self.image)


LAYOUTS = {
    'ubuntu': Layout('jammy-server-cloudimg-amd64.img', 'SHA256SUMS', 'gnu',
                     'sha256', 'SHA256SUMS.gpg'),
    'debian': Layout('debian-12-generic-amd64.qcow2', 'SHA512SUMS', 'gnu',
                     'sha512', 'SHA512SUMS.sign'),
    'fedora': Layout('Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2',
                     'Fedora-Cloud-41-1.4-x86_64-CHECKSUM', 'bsd', 'sha256',
                     CLEARSIGNED),
    'centos-stream': Layout(
        'CentOS-Stream-GenericCloud-9-latest.x86_64.qcow2',
        '{image}.SHA256SUM', 'bsd', 'sha256'),
    'rocky': Layout('Rocky-9-GenericCloud.latest.x86_64.qcow2',
                    '{image}.CHECKSUM', 'bsd', 'sha256', CLEARSIGNED),
    'alma': Layout('AlmaLinux-9-GenericCloud-latest.x86_64.qcow2',
                   'CHECKSUM', 'bsd', 'sha256', 'CHECKSUM.asc'),
    'opensuse': Layout('openSUSE-Leap-15.6-Minimal-VM.x86_64-Cloud.qcow2',
                       '{image}.sha256', 'gnu', 'sha256',
                       '{image}.sha256.asc'),
    'alpine': Layout('nocloud_alpine-3.20.3-x86_64-bios-cloudinit-r0.qcow2',
                     '{image}.sha512', 'gnu', 'sha512'),
    'arch': Layout('Arch-Linux-x86_64-cloudimg.qcow2', '{image}.SHA256',
                   'gnu', 'sha256'),
    'freebsd': Layout('FreeBSD-14.1-RELEASE-amd64-ufs.qcow2.xz',
                      'CHECKSUM.SHA256-FreeBSD-14.1-RELEASE-amd64', 'bsd',
                      'sha256'),
    'cirros': Layout('cirros-0.6.2-x86_64-disk.img', 'MD5SUMS', 'gnu',
                     'md5'),
}
# A neighbour every shared checksum file also lists.
NEIGHBOUR = 'other-image.img'


def line(layout, name, hexdigest):
    if layout.style == 'bsd':
        return '%s (%s) = %s\n' % (layout.algorithm.upper(), name, hexdigest)
    return '%s *%s\n' % (hexdigest, name)


def publish(folder, layout, data, publisher=None, hexdigest=None):
    """Write the image ``data`` as ``layout.image`` into ``folder``, with
    its checksum file (the line for it, and one for a neighbour) and, with
    a ``publisher`` (``tools.signing.Publisher``), signed as the layout
    signs it. ``hexdigest`` puts another checksum in its line. Returns
    the image's path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, layout.image)
    with open(path, 'wb') as f:
        f.write(data)
    digest = hexdigest or hashlib.new(
        layout.algorithm, data, usedforsecurity=False).hexdigest()
    other = hashlib.new(layout.algorithm, b'other',
                        usedforsecurity=False).hexdigest()
    text = (line(layout, NEIGHBOUR, other) +
            line(layout, layout.image, digest)).encode()
    if publisher is not None and layout.signature == CLEARSIGNED:
        text = publisher.clearsigned(text)
    elif publisher is not None and layout.signature_name:
        with open(os.path.join(folder, layout.signature_name), 'wb') as f:
            f.write(publisher.detached(text))
    with open(os.path.join(folder, layout.checksum_name), 'wb') as f:
        f.write(text)
    return path
