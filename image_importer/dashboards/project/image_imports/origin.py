"""How the dashboard says where an image came from and who vouches for
it, from a job's ``provenance`` (``engine.provenance.Provenance``'s
``as_dict``): in Check URL, on the row and on the job page."""

from django.utils.translation import gettext_lazy as _

from image_importer.engine import fetch
from image_importer.engine import provenance
from image_importer.engine import signature

VERDICTS = {
    signature.SIGNED: _('signed by %(signer)s (%(fingerprint)s)'),
    signature.UNKNOWN_KEY: _('signature by a key this cloud does not '
                             'trust'),
    signature.EXPIRED_KEY: _('signature by a trusted key that has '
                             'expired'),
    signature.UNSIGNED: _('checksum file unsigned'),
}


def verdict(found):
    """What vouches for the checksum: the signature's outcome, the user's
    own checksum, or nothing published."""
    if found.get('checksum_from') == provenance.NOT_SOUGHT:
        return str(_('no checksum given or looked for'))
    if not found.get('algorithm'):
        return str(_('no checksum published'))
    if found.get('checksum_from') == provenance.FROM_USER:
        return str(_('the checksum you gave'))
    return str(VERDICTS[found['verification']] % {
        'signer': found.get('signer', ''),
        'fingerprint': found.get('fingerprint', '')})


def checksum_source(found):
    """Where the checksum came from, as one line."""
    name = fetch.file_name(found.get('checksum_url') or '')
    source = found.get('checksum_from')
    if source == provenance.FROM_USER:
        return str(_('given in the form'))
    if source == provenance.FROM_FILE:
        return str(_('%s, the checksum file you named') % name)
    if source == provenance.FOUND:
        return str(_('%s, found beside the image') % name)
    if source == provenance.NOT_SOUGHT:
        return str(_('none: not looked for'))
    return str(_('none found beside the image'))


def row_text(job):
    """The row's line for an active job: how it was verified."""
    found = job.provenance
    if not found:       # recorded before imports kept their provenance
        return str(_('Checksum matched')) if job.checksum_verified else ''
    if job.checksum_verified:
        return str(_('Checksum matched; %s') % verdict(found))
    return str(_('Not verified: %s') % verdict(found))
