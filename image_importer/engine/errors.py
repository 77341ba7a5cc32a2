"""Why an import stops.

The engine never formats user-facing text: it raises an ``ImportFailure``
with a stable ``code`` and plain ``params``; the dashboard turns the code
into a translated sentence (``image_importer.messages``) so each user reads
it in their own language.
"""


class ImportFailure(Exception):
    """The import cannot succeed; ``code`` names the reason."""

    def __init__(self, code, **params):
        self.code = code
        self.params = params
        super().__init__(code, params)

    def __str__(self):
        if not self.params:
            return self.code
        details = ', '.join('%s=%s' % kv for kv in sorted(self.params.items()))
        return '%s (%s)' % (self.code, details)


class Cancelled(Exception):
    """The job was cancelled (or taken over) while it ran."""
