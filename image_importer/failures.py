"""Plain-language, translatable text for each reason an import fails.

Each message says what went wrong and what to do. The engine raises codes
(``image_importer.engine.errors.ImportFailure``); the job stores the code and
its parameters, and the text is made when it is shown, in the reader's
language.
"""

from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

MESSAGES = {
    # At submit: a limit of the job store (``limits.LimitReached``).
    'queued_project': ngettext_lazy(
        'Your project already has %(count)s import waiting to start, the '
        'most allowed (%(limit)s). Wait for it to start, or cancel it if you '
        'do not need it, then submit again; ask the operator if your '
        'project needs a higher limit.',
        'Your project already has %(count)s imports waiting to start, the '
        'most allowed (%(limit)s). Wait for some of them to start, or '
        'cancel those you do not need, then submit again; ask the operator '
        'if your project needs a higher limit.', 'count'),
    'queued_total': ngettext_lazy(
        'This cloud already has %(count)s import waiting to start, the most '
        'it accepts (%(limit)s). Wait a few minutes and submit again; if '
        'this keeps happening, tell the operator.',
        'This cloud already has %(count)s imports waiting to start, the most '
        'it accepts (%(limit)s). Wait a few minutes and submit again; if '
        'this keeps happening, tell the operator.', 'count'),
    # A list of images (Import Many) that would pass a queued limit.
    'queued_project_many': _(
        'This list has %(adding)s images; your project has %(count)s '
        'waiting to start, and at most %(limit)s may wait. Import fewer at '
        'once, or wait for some to start; ask the operator if your project '
        'needs a higher limit.'),
    'queued_total_many': _(
        'This list has %(adding)s images; this cloud has %(count)s waiting '
        'to start, and accepts at most %(limit)s. Import fewer at once, or '
        'wait a few minutes.'),
    'invalid_url': _('"%(url)s" is not a valid URL. Enter a full http:// or '
                     'https:// address of the image file.'),
    'scheme_not_allowed': _('URLs starting with "%(scheme)s:" cannot be '
                            'imported. Use one of: %(allowed)s.'),
    'host_not_found': _('The server name "%(host)s" could not be found. '
                        'Check the URL for typing mistakes.'),
    'address_not_allowed': _('"%(host)s" (port %(port)s) is not an '
                             'address this cloud downloads from, such as an '
                             'internal network. Use a public URL, or ask '
                             'the operator to allow this mirror.'),
    'tls_error': _('The secure connection to %(host)s failed: %(reason)s. '
                   'Check that the server has a valid certificate.'),
    'connect_failed': _('Could not connect to %(host)s: %(reason)s. Check '
                        'the URL and that the server is up, then retry.'),
    'no_answer': _('%(host)s took the connection but did not send a '
                   'complete answer within %(seconds)s seconds. Check the '
                   'URL, or retry later or from another mirror.'),
    'http_status': _('The server answered %(status)s %(reason)s. Check that '
                     'the URL points to the image file itself and that it '
                     'can be downloaded without logging in.'),
    'too_many_redirects': _('The URL redirected more than %(limit)s times. '
                            'Use the final address of the file.'),
    'too_large': _('The file is larger than this cloud accepts '
                   '(%(size_h)s; the limit is %(limit_h)s).'),
    'read_timeout': _('The server stopped sending data for %(seconds)s '
                      'seconds. Retry later or use another mirror.'),
    'connection_lost': _('The connection broke after %(done_h)s '
                         '(%(reason)s). Retry the import.'),
    'format_ambiguous': _('The file looks like more than one disk format at '
                          'once, which is refused for safety (%(detail)s).'),
    'format_refused': _('This file is a %(format)s image, which cannot be '
                        'imported. Convert it to qcow2 or raw first.'),
    'backing_file': _('This file is %(format)s with a backing file, which is '
                      'refused for safety: it would read another file on '
                      'the server. Use a standalone image (for example run '
                      '"qemu-img convert -O qcow2" on it first).'),
    'unsafe_image': _('This %(format)s file failed the safety checks '
                      '(%(checks)s) and is refused. Use an image from a '
                      'trusted source.'),
    'format_unreadable': _('This file claims to be %(format)s but is damaged '
                           'or incomplete (%(detail)s). Download it again '
                           'or use another copy.'),
    'format_disagreement': _('The image tools disagree about this file '
                             '(%(format)s / %(qemu)s), so it is refused for '
                             'safety.'),
    'qemu_failed': _('qemu-img could not %(step)s the image: %(detail)s'),
    'cannot_convert': _('A %(source)s image cannot be turned into %(target)s. '
                        'Choose Automatic (%(source)s) or another format '
                        'such as raw or qcow2.'),
    'token_expired': _('Your login expired before the import finished, '
                       'so the importer could no longer act for you. '
                       'Without a service user an import runs on your '
                       'login, which lasts only as long as a Keystone '
                       'token (often an hour). Retry the import; if '
                       'imports take longer than that, ask the operator '
                       'to configure a service user '
                       '(IMAGE_IMPORTER[\'SERVICE_AUTH\']), so imports run '
                       'on a Keystone trust that lasts as long as a job '
                       'may.'),
    'authorization_lost': _('The importer can no longer act for you in '
                            'this project: your role on the project was '
                            'removed (or your authorization withdrawn) '
                            'while the import ran, so it was stopped. Ask '
                            'the project\'s administrator for the role, '
                            'then retry.'),
    'trust_expired': _('The import\'s authorization (its Keystone trust) '
                       'expired before it finished: waiting in the queue '
                       'and running took longer than this cloud allows a '
                       'job. Retry the import.'),
    'service_auth_failed': _('The importer\'s service user could not log '
                             'in to Keystone, so the import cannot run for '
                             'you. Tell the operator: check '
                             'IMAGE_IMPORTER[\'SERVICE_AUTH\'].'),
    'trust_refused': _('Keystone refused to let the importer act for you '
                       '(%(detail)s). Tell the operator: the importer\'s '
                       'service user needs a Keystone trust from you.'),
    'keystone_unreachable': _('The Identity service (Keystone) could not be '
                              'reached. Retry later.'),
    'glance_forbidden': _('The Image service refused the image: %(detail)s. '
                          'Check the visibility you chose and your '
                          'project\'s permissions.'),
    'glance_too_large': _('The Image service refused the image as too large '
                          '(your project\'s image quota or the cloud\'s '
                          'image size limit): %(detail)s. Delete images '
                          'you no longer need, import a smaller format '
                          '(qcow2 rather than raw), or ask the operator to '
                          'raise the limit.'),
    'glance_error': _('The Image service answered %(status)s: %(detail)s. '
                      'Retry later; if it fails again, tell the operator.'),
    'glance_quota_count': _('Your project already has %(usage)s images, '
                            'the most the Image service allows it '
                            '(%(limit)s). Delete images you no longer '
                            'need, or ask the operator to raise the '
                            'image_count_total limit, then retry.'),
    'glance_quota_uploading': _('Your project already has %(usage)s images '
                                'being uploaded, the most the Image service '
                                'allows at once (%(limit)s). Retry when '
                                'they have finished, or ask the operator to '
                                'raise the image_count_uploading limit.'),
    'glance_quota_size': _('This image needs at least %(size_h)s, but your '
                           'project has only %(free_h)s left of its '
                           '%(limit_h)s of image storage in the Image '
                           'service. Delete images you no longer need, '
                           'keep the image as qcow2 rather than raw (it '
                           'stores only the part of the disk in use), or '
                           'ask the operator to raise the image_size_total '
                           'limit, then retry.'),
    'glance_unreachable': _('The Image service could not be reached. Retry '
                            'later.'),
    'glance_hash_mismatch': _('The Image service stored different data '
                              'from what was sent (%(algorithm)s '
                              '%(stored)s, sent %(sent)s), so the image was '
                              'deleted. Retry; if it happens again, tell '
                              'the operator: the storage may be faulty.'),
    'glance_not_active': _('The Image service did not accept the data (the '
                           'image is %(status)s).'),
    'invalid_host': _('"%(host)s" is a numeric address written in an '
                      'unusual form, which is refused. Use the server\'s '
                      'name or a normal dotted address.'),
    'too_slow': _('The server sent data too slowly (%(rate)s bytes/s; at '
                  'least %(min_rate)s are needed). Retry later or use '
                  'another mirror.'),
    'deadline_exceeded': _('The download took longer than the %(seconds)s '
                           'seconds allowed. Use a faster mirror.'),
    'source_changed': _('The file on the server changed while it was being '
                        'downloaded (after %(done_h)s). Retry the import.'),
    'disk_full': _('The importer ran out of disk space. Retry later; if it '
                   'keeps happening, tell the operator.'),
    'output_too_large': _('Converted to %(format)s, this image would be '
                          '%(size_h)s, more than the %(limit_h)s this cloud '
                          'accepts, so nothing was sent to the Image '
                          'service. Keep it as %(source)s (choose Automatic '
                          'as the format): it stores only the part of the '
                          'disk in use.'),
    'raw_too_large': _('Made raw, this image would be %(size_h)s, more '
                       'than the %(limit_h)s this cloud accepts. Keep it as '
                       '%(source)s (choose Automatic as the format): it '
                       'stores only the part of the disk in use.'),
    'virtual_too_large': _('The image describes a %(size_h)s disk, more '
                           'than the %(limit_h)s this cloud accepts.'),
    'web_page': _('This is a web page, not an image file: copy the link '
                  'of the file itself (on the download page, right-click '
                  'the image file\'s link and copy its address).'),
    'not_a_disk_image': _('This is a text file of %(size_h)s, not a disk '
                          'image: check that the URL points to the image '
                          'file itself.'),
    'not_an_iso': _('This file (%(name)s) is a %(format)s disk image, not '
                    'an installer ISO; choose Automatic (%(format)s) or '
                    'raw.'),
    'checksum_invalid': _('"%(value)s" is not a checksum. Give the hex '
                          'digest, e.g. sha256:<64 hex digits>.'),
    'checksum_not_listed': _('The checksum file does not list %(filename)s. '
                             'Check that it is the checksum file for this '
                             'image.'),
    'subscriptions_need_service_auth': _(
        'Following a source needs the importer to act for you later, '
        'through a trust to its service user, and this cloud has none '
        'configured. Import the image now instead, or ask the operator to '
        'set IMAGE_IMPORTER[\'SERVICE_AUTH\'].'),
    'no_release': _('No file in the followed source matches %(pattern)s. '
                    'Check the pattern against the names the folder or '
                    'checksum file lists (* matches any part).'),
    'checksum_file_invalid': _('The checksum file holds no checksums this '
                               'cloud can check (MD5, SHA-1 or SHA-2), or the '
                               'URL returned something else, such as a web '
                               'page. Check its URL.'),
    'signature_bad': _('The signature %(signature)s does not match the '
                       'checksum file %(file)s: one of them was altered on '
                       'the way or on the server, so neither can be trusted. '
                       'Nothing was downloaded. Try another mirror, or tell '
                       'the publisher.'),
    'signature_required': _('This cloud imports from %(host)s only images '
                            'whose checksum file is signed by a key it '
                            'trusts, and this one is not (%(outcome)s). '
                            'Use the publisher\'s own mirror, which '
                            'publishes signed checksum files, or ask the '
                            'operator to trust the publisher\'s key.'),
    'checksum_mismatch': _('The file\'s %(algorithm)s checksum is '
                           '%(actual)s, not the expected %(expected)s: the '
                           'download is damaged or not the file you meant. '
                           'Nothing was uploaded. Check the URL and the '
                           'checksum, then retry.'),
    'archive_header_too_large': _('The archive holds a %(kind)s header '
                                  'of %(size_h)s, more than the %(limit_h)s '
                                  'allowed (file names and attributes need '
                                  'far less), so it is refused. Make the '
                                  'archive again with plain names, or '
                                  'import the disk image itself.'),
    'decompression_bomb': _('This %(compression)s file expands more than '
                            '%(ratio)s times (%(done_h)s became %(size_h)s '
                            'and more): a decompression bomb, or a disk '
                            'almost entirely empty. It was stopped. Import '
                            'the image as qcow2 instead, which stores no '
                            'empty space.'),
    'archive_sparse_map': _('The sparse file %(name)s in the archive is '
                            'made of more than %(limit)s pieces, which is '
                            'refused. Make the archive without --sparse, '
                            'or import the disk image itself.'),
    'unpacked_too_large': _('The file unpacks to more than %(limit_h)s, '
                            'more than this cloud accepts (or a '
                            'decompression bomb); it was stopped.'),
    'decoder_memory': _('Unpacking this %(compression)s file would need '
                        'more memory than allowed. Recompress it with '
                        'default settings.'),
    'compressed_truncated': _('The %(compression)s file ends too early: the '
                              'download is incomplete or damaged. Retry, or '
                              'use another mirror.'),
    'trailing_garbage': _('The %(compression)s file has extra data after '
                          'its end, which is refused. Use a clean copy.'),
    'compressed_corrupt': _('The %(compression)s file is damaged '
                            '(%(detail)s). Download it again or use another '
                            'copy.'),
    'archive_unsafe_member': _('The archive holds "%(name)s" (%(reason)s), '
                               'which is refused for safety.'),
    'archive_too_many_members': _('The archive holds more than %(limit)s '
                                  'files. Give the disk image itself.'),
    'archive_no_disk': _('The archive holds no disk image. Give the URL of '
                         'the image file, or an OVA/tar with one disk.'),
    'archive_several_disks': _('The archive holds more than one disk image '
                               '(%(names)s). Import each disk on its own.'),
    'archive_corrupt': _('The tar archive is damaged or incomplete '
                         '(%(detail)s). Download it again or use another '
                         'copy.'),
    'ova_invalid': _('The OVA\'s OVF descriptor cannot be read '
                     '(%(detail)s).'),
    'operator': _('The operator stopped this import: %(reason)s.'),
    'key_mismatch': _('The worker could not read the credentials this '
                      'job was given: the dashboard and the worker hosts '
                      'do not share the same encryption key. Tell the '
                      'operator (every host needs the same SECRET_KEY or '
                      'IMAGE_IMPORTER["ENCRYPTION_KEY"]); then retry.'),
    'worker_lost': _('The import stopped %(attempts)s times because the '
                     'worker running it was lost (restarted, or out of '
                     'memory), so it was given up. Retry it; if it stops '
                     'again, tell the operator the job id.'),
    'timed_out': _('The import took longer than the %(seconds)s seconds '
                   'this cloud allows a job. Use a faster mirror or a '
                   'compressed image, or ask the operator to raise '
                   'JOB_TIMEOUT.'),
    'internal_error': _('The import failed because of an internal error. '
                        'Retry; if it fails again, tell the operator the '
                        'job id.'),
}


# Why an archive member was refused (``archive_unsafe_member``).
MEMBER_REASONS = {
    'absolute': _('an absolute path'),
    'parent': _('a path that climbs out with ".."'),
    'symlink': _('a symbolic link'),
    'hardlink': _('a hard link'),
    'device': _('a device file'),
    'fifo': _('a named pipe'),
    'sparse': _('a sparse file'),
    'type': _('an unsupported kind of file'),
}


# Added to any failure that left an image the worker could not delete.
LEFT_IMAGE = _('The unfinished image %(left_image)s it made could not be '
               'deleted: delete it with "Delete Import and Image", or ask '
               'an administrator to.')


def describe(code, params):
    """The translated message for a failure code and its parameters."""
    values = dict(params or {})
    text = _describe(code, values)
    if values.get('left_image'):
        text = '%s %s' % (text, LEFT_IMAGE % values)
    return text


def _describe(code, values):
    template = MESSAGES.get(code, MESSAGES['internal_error'])
    if code == 'archive_unsafe_member':
        values['reason'] = MEMBER_REASONS.get(values.get('reason'),
                                              values.get('reason'))
    for key in ('size', 'limit', 'done', 'needed', 'free'):
        if isinstance(values.get(key), int):
            values[key + '_h'] = filesizeformat(values[key])
    try:
        return template % values
    except (KeyError, TypeError, ValueError):
        return str(template).split('%(')[0].rstrip()
