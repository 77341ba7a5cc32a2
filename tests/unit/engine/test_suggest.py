"""Metadata guessed from cloud image file names."""

import pytest

from image_importer.engine.suggest import suggest

GIB = 1 << 30

NAMED = [
    ('jammy-server-cloudimg-amd64.img', 'x86_64', 'ubuntu', '22.04'),
    ('bionic-server-cloudimg-amd64.img', 'x86_64', 'ubuntu', '18.04'),
    ('focal-server-cloudimg-arm64.img', 'aarch64', 'ubuntu', '20.04'),
    ('noble-server-cloudimg-amd64.img', 'x86_64', 'ubuntu', '24.04'),
    ('plucky-server-cloudimg-riscv64.img', 'riscv64', 'ubuntu', '25.04'),
    ('questing-server-cloudimg-s390x.img', 's390x', 'ubuntu', '25.10'),
    ('noble-server-cloudimg-ppc64el.img', 'ppc64le', 'ubuntu', '24.04'),
    ('ubuntu-24.04-server-cloudimg-arm64.img', 'aarch64', 'ubuntu', '24.04'),
    ('ubuntu-22.04-minimal-cloudimg-amd64.img', 'x86_64', 'ubuntu', '22.04'),
    ('ubuntu-24.04.1-live-server-amd64.iso', 'x86_64', 'ubuntu', '24.04'),
    ('debian-12-genericcloud-amd64.qcow2', 'x86_64', 'debian', '12'),
    ('debian-11-generic-arm64-20240717-1811.qcow2', 'aarch64', 'debian',
     '11'),
    ('debian-13-nocloud-ppc64el.raw', 'ppc64le', 'debian', '13'),
    ('debian-12.7.0-amd64-netinst.iso', 'x86_64', 'debian', '12'),
    ('debian-bullseye-genericcloud-amd64.qcow2', 'x86_64', 'debian', '11'),
    ('bookworm-genericcloud-amd64.qcow2', 'x86_64', 'debian', '12'),
    ('trixie-nocloud-arm64.tar.xz', 'aarch64', 'debian', '13'),
    ('Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2', 'x86_64', 'fedora',
     '41'),
    ('Fedora-Cloud-Base-Generic-41-1.4.aarch64.qcow2', 'aarch64', 'fedora',
     '41'),
    ('Fedora-Cloud-Base-AmazonEC2-41-1.4.x86_64.raw.xz', 'x86_64', 'fedora',
     '41'),
    ('CentOS-Stream-GenericCloud-9-latest.x86_64.qcow2', 'x86_64', 'centos',
     '9'),
    ('CentOS-Stream-GenericCloud-x86_64-10-latest.x86_64.qcow2', 'x86_64',
     'centos', '10'),
    ('CentOS-7-x86_64-GenericCloud-2009.qcow2', 'x86_64', 'centos', '7'),
    ('Rocky-9-GenericCloud-Base.latest.x86_64.qcow2', 'x86_64', 'rocky',
     '9'),
    ('Rocky-9.4-GenericCloud-Base-9.4-20240609.0.aarch64.qcow2', 'aarch64',
     'rocky', '9.4'),
    ('AlmaLinux-9-GenericCloud-latest.x86_64.qcow2', 'x86_64', 'almalinux',
     '9'),
    ('AlmaLinux-8-GenericCloud-8.10-20240530.aarch64.qcow2', 'aarch64',
     'almalinux', '8'),
    ('rhel-9.4-x86_64-kvm.qcow2', 'x86_64', 'rhel', '9.4'),
    ('cirros-0.6.2-x86_64-disk.img', 'x86_64', 'cirros', '0.6.2'),
    ('cirros-0.6.3-aarch64-disk.img', 'aarch64', 'cirros', '0.6.3'),
    ('openSUSE-Leap-15.6-Minimal-VM.x86_64-Cloud.qcow2', 'x86_64',
     'opensuse', '15.6'),
    ('openSUSE-Leap-15.6.x86_64-NoCloud.qcow2', 'x86_64', 'opensuse',
     '15.6'),
    ('SLES15-SP6-Minimal-VM.x86_64-Cloud-GM.qcow2', 'x86_64', 'sles',
     '15.6'),
    ('alpine-virt-3.20.3-x86_64.iso', 'x86_64', 'alpine', '3.20.3'),
    ('nocloud_alpine-3.20.3-x86_64-bios-cloudinit-r0.qcow2', 'x86_64',
     'alpine', '3.20.3'),
    ('generic_alpine-3.21.0-aarch64-uefi-cloudinit-r0.qcow2', 'aarch64',
     'alpine', '3.21.0'),
    ('FreeBSD-14.1-RELEASE-amd64.qcow2.xz', 'x86_64', 'freebsd', '14.1'),
    ('FreeBSD-14.1-RELEASE-arm64-aarch64.qcow2.xz', 'aarch64', 'freebsd',
     '14.1'),
    ('FreeBSD-13.4-RELEASE-amd64-BASIC-CLOUDINIT-ufs.raw.xz', 'x86_64',
     'freebsd', '13.4'),
    ('Win11_24H2_English_x64.iso', 'x86_64', 'windows', '11'),
    ('windows-server-2022-x86_64.qcow2', 'x86_64', 'windows', '2022'),
    ('jammy-server-cloudimg-armhf.img', 'armv7l', 'ubuntu', '22.04'),
]


@pytest.mark.parametrize('filename, architecture, distro, version', NAMED,
                         ids=[case[0] for case in NAMED])
def test_known_cloud_image_names(filename, architecture, distro, version):
    assert suggest(filename) == {'architecture': architecture,
                                 'os_distro': distro, 'os_version': version}


WITHOUT_VERSION = [
    ('Arch-Linux-x86_64-cloudimg.qcow2', 'x86_64', 'arch'),
    ('Arch-Linux-x86_64-cloudimg-20241201.282093.qcow2', 'x86_64', 'arch'),
    ('openSUSE-Tumbleweed-Minimal-VM.x86_64-1.0.1-Cloud-Snapshot20241210'
     '.qcow2', 'x86_64', 'opensuse'),
    ('fedora-coreos-stable-openstack.x86_64.qcow2.xz', 'x86_64', 'fedora'),
    ('ubuntu-server-cloudimg-amd64.img', 'x86_64', 'ubuntu'),
    ('debian-sid-nocloud-amd64-daily-20241217-1955.qcow2', 'x86_64',
     'debian'),
    ('Fedora-Cloud-Base-Generic-Rawhide-20241217.n.0.x86_64.qcow2', 'x86_64',
     'fedora'),
    ('alpine-virt-20241217-x86_64.iso', 'x86_64', 'alpine'),
]


@pytest.mark.parametrize('filename, architecture, distro', WITHOUT_VERSION,
                         ids=[case[0] for case in WITHOUT_VERSION])
def test_distribution_without_a_version(filename, architecture, distro):
    assert suggest(filename) == {'architecture': architecture,
                                 'os_distro': distro}


@pytest.mark.parametrize('filename, expected', [
    ('image-x86_64.raw', 'x86_64'),
    ('image-x86-64.raw', 'x86_64'),
    ('image.amd64.raw', 'x86_64'),
    ('image_x64.raw', 'x86_64'),
    ('image-AARCH64.raw', 'aarch64'),
    ('image-arm64.raw', 'aarch64'),
    ('image-s390x.raw', 's390x'),
    ('image-ppc64le.raw', 'ppc64le'),
    ('image-ppc64el.raw', 'ppc64le'),
    ('image-riscv64.raw', 'riscv64'),
    ('image-i386.raw', 'i686'),
    ('image-armhf.raw', 'armv7l'),
], ids=['x86_64', 'x86-64', 'amd64', 'x64', 'upper-aarch64', 'arm64',
        's390x', 'ppc64le', 'ppc64el', 'riscv64', 'i386', 'armhf'])
def test_architecture_tokens(filename, expected):
    assert suggest(filename) == {'architecture': expected}


@pytest.mark.parametrize('filename', [
    'camd64.img',
    'amd64x.img',
    'my-xarm64-build.qcow2',
    'sx86_64.raw',
    'aarch646.raw',
    'image-x86_64-and-aarch64.raw',
], ids=['amd64-inside-a-word', 'amd64-as-prefix', 'arm64-inside-a-word',
        'x86_64-inside-a-word', 'aarch64-with-digit', 'two-architectures'])
def test_architecture_inside_other_words_or_ambiguous_is_not_offered(
        filename):
    assert 'architecture' not in suggest(filename)


@pytest.mark.parametrize('filename', [
    'disk.qcow2',
    'my-appliance-1.2.3.ova',
    'backup-2024-12-17.raw.gz',
    'debianish-12.img',
    'xubuntu-core.img',
    'jammyserver.img',
    'centosx-9.img',
    'darwin-23.iso',
    '',
], ids=['plain', 'appliance-version', 'dated-backup', 'distro-as-prefix',
        'distro-as-suffix', 'codename-in-a-word',
        'distro-in-a-word', 'win-in-a-word', 'empty'])
def test_unknown_names_give_no_os_keys(filename):
    found = suggest(filename)

    assert 'os_distro' not in found
    assert 'os_version' not in found


@pytest.mark.parametrize('suffix', [
    '', '.img', '.qcow2', '.raw', '.iso', '.vmdk', '.vhd', '.vhdx', '.ova',
    '.tar', '.xz', '.gz', '.bz2', '.zst', '.qcow2.xz', '.raw.gz', '.tar.gz',
    '.vhd.tar.bz2', '.IMG', '.Qcow2.ZST',
])
def test_extensions_and_compression_do_not_disturb(suffix):
    assert suggest('cirros-0.6.2-x86_64' + suffix) == {
        'architecture': 'x86_64', 'os_distro': 'cirros',
        'os_version': '0.6.2'}


def test_file_name_is_read_from_a_path():
    assert suggest('ubuntu/releases/noble/release/noble-server-cloudimg-'
                   'amd64.img')['os_version'] == '24.04'


def test_directory_names_are_ignored():
    assert suggest('cloud-images.ubuntu.com/fedora/disk.img') == {}


@pytest.mark.parametrize('virtual_size, min_disk', [
    (0, 0),
    (1, 1),
    (GIB - 1, 1),
    (GIB, 1),
    (GIB + 1, 2),
    (2361393152, 3),
    (10 * GIB, 10),
], ids=['zero', 'one-byte', 'just-under-1g', 'exactly-1g', 'just-over-1g',
        'jammy-2.2g', 'exactly-10g'])
def test_min_disk_rounds_the_virtual_size_up_to_whole_gib(virtual_size,
                                                          min_disk):
    found = suggest('disk.qcow2', virtual_size)

    assert found == {'min_disk': min_disk}
    assert type(found['min_disk']) is int


def test_all_keys_together():
    assert suggest('jammy-server-cloudimg-amd64.img', 2361393152) == {
        'architecture': 'x86_64', 'os_distro': 'ubuntu',
        'os_version': '22.04', 'min_disk': 3}


def test_nothing_known_gives_an_empty_dict():
    assert suggest('disk.qcow2') == {}
