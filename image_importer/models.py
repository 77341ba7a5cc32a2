"""Import jobs: the source of truth for every import.

A job's state changes only through ``ImportJob.TRANSITIONS``, and every
change is a conditional UPDATE on the state the caller last saw, so two
processes can never both move the same job (a second worker, a cancel racing
a finish). End states are final.
"""

import datetime
import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import pgettext_lazy


class StateConflict(Exception):
    """The job is no longer in the state (or lease) the caller expected."""


class InvalidTransition(Exception):
    """The transition table forbids this move."""


class Owned(models.Model):
    """A record of one user in one project (names as they were when it
    was made, for the admin's tables)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4,
                          editable=False)
    project_id = models.CharField(max_length=64)
    project_name = models.CharField(max_length=255, blank=True)
    user_id = models.CharField(max_length=64)
    user_name = models.CharField(max_length=255, blank=True)

    class Meta:
        abstract = True


class Subscription(Owned):
    """A source followed: each new build it publishes becomes an import
    job (``worker.subscriptions``), with the choices of a normal import,
    and the images it made beyond ``keep`` are retired."""

    ACTIVE = 'active'
    PAUSED = 'paused'
    STOPPED = 'stopped'         # after repeated failures, until resumed
    STATE_CHOICES = (
        (ACTIVE, pgettext_lazy('Subscription state', 'Following')),
        (PAUSED, pgettext_lazy('Subscription state', 'Paused')),
        (STOPPED, pgettext_lazy('Subscription state', 'Stopped')),
    )
    HIDE = 'hide'
    DELETE = 'delete'
    RETIRE_CHOICES = (
        (HIDE, pgettext_lazy('Retirement', 'Hide the older images')),
        (DELETE, pgettext_lazy('Retirement', 'Delete the older images')),
    )

    name = models.CharField(max_length=255)

    # What is followed (engine.follow.Source).
    kind = models.CharField(max_length=16, default='file')
    source_url = models.CharField(max_length=2048)
    pattern = models.CharField(max_length=255, blank=True)

    # The image of each build: its name ({date}, {file} filled in) and
    # the choices of a normal import.
    image_name = models.CharField(max_length=255)
    disk_format = models.CharField(max_length=16, blank=True)
    visibility = models.CharField(max_length=16, default='private')
    protected = models.BooleanField(default=False)
    min_disk = models.PositiveIntegerField(default=0)
    min_ram = models.PositiveIntegerField(default=0)
    architecture = models.CharField(max_length=255, blank=True)
    properties = models.JSONField(default=dict, blank=True)

    # Every ``interval`` seconds; the newest ``keep`` images stay, the
    # others are hidden or deleted.
    interval = models.PositiveIntegerField(default=86400)
    keep = models.PositiveIntegerField(default=3)
    retire = models.CharField(max_length=16, choices=RETIRE_CHOICES,
                              default=HIDE)

    # The user's authority for later: a trust to the service user, with
    # no expiry, deleted with the subscription.
    glance_endpoint = models.CharField(max_length=1024)
    trust_id = models.CharField(max_length=64, blank=True)
    token_expires = None

    state = models.CharField(max_length=16, choices=STATE_CHOICES,
                             default=ACTIVE)
    # What the last look saw: the validator to send next time, and the
    # build last imported (or being imported).
    validator = models.CharField(max_length=1024, blank=True)
    seen = models.CharField(max_length=2048, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(default=timezone.now,
                                         db_index=True)
    # What the last look (or the import it started) came to: a code of
    # worker.subscriptions (said by the dashboard) and its values.
    last_result = models.CharField(max_length=1024, blank=True)
    result_params = models.JSONField(default=dict, blank=True)
    failures = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ('-created_at',)

    def __str__(self):
        return self.name


class ImportJob(Owned):
    QUEUED = 'queued'
    DOWNLOADING = 'downloading'
    CONVERTING = 'converting'
    UPLOADING = 'uploading'
    ACTIVE = 'active'
    FAILED = 'failed'
    CANCELLED = 'cancelled'

    STATE_CHOICES = (
        (QUEUED, pgettext_lazy('Import job state', 'Queued')),
        (DOWNLOADING, pgettext_lazy('Import job state', 'Downloading')),
        (CONVERTING, pgettext_lazy('Import job state', 'Converting')),
        (UPLOADING, pgettext_lazy('Import job state', 'Uploading')),
        (ACTIVE, pgettext_lazy('Import job state', 'Active')),
        (FAILED, pgettext_lazy('Import job state', 'Failed')),
        (CANCELLED, pgettext_lazy('Import job state', 'Cancelled')),
    )
    RUNNING = (DOWNLOADING, CONVERTING, UPLOADING)
    END_STATES = (ACTIVE, FAILED, CANCELLED)
    # A running job goes back to QUEUED only when its lease expired.
    TRANSITIONS = {
        QUEUED: {DOWNLOADING, FAILED, CANCELLED},
        DOWNLOADING: {CONVERTING, UPLOADING, FAILED, CANCELLED, QUEUED},
        # Back to downloading: an upload fed by the download or the
        # conversion broke, and the image is fetched again to a file.
        CONVERTING: {UPLOADING, FAILED, CANCELLED, QUEUED, DOWNLOADING},
        UPLOADING: {ACTIVE, FAILED, CANCELLED, QUEUED, DOWNLOADING},
        ACTIVE: set(),
        FAILED: set(),
        CANCELLED: set(),
    }

    # The source URL without any user:password part; that part, if given,
    # is kept encrypted in source_credentials until the job ends.
    source_url = models.CharField(max_length=2048)
    source_credentials = models.TextField(blank=True)

    # What the user asked for, as Create Image would send it to Glance.
    # disk_format '' means "keep the format detected in the file".
    image_name = models.CharField(max_length=255)
    description = models.CharField(max_length=255, blank=True)
    disk_format = models.CharField(max_length=16, blank=True)
    architecture = models.CharField(max_length=255, blank=True)
    min_disk = models.PositiveIntegerField(default=0)
    min_ram = models.PositiveIntegerField(default=0)
    visibility = models.CharField(max_length=16, default='private')
    protected = models.BooleanField(default=False)
    kernel_id = models.CharField(max_length=64, blank=True)
    ramdisk_id = models.CharField(max_length=64, blank=True)
    # Custom properties (the workflow refuses reserved ones).
    properties = models.JSONField(default=dict, blank=True)
    # Optional: a checksum to verify, or the URL of a checksum file.
    expected_checksum = models.CharField(max_length=255, blank=True)
    checksum_url = models.CharField(max_length=2048, blank=True)
    # Look for the publisher's checksum file when none is given (the
    # user's choice).
    find_checksum = models.BooleanField(default=True)

    # The user's authority: Glance endpoint and the Keystone token,
    # encrypted, erased when the job ends.
    glance_endpoint = models.CharField(max_length=1024)
    auth_token = models.TextField(blank=True)
    token_expires = models.DateTimeField(null=True, blank=True)
    # With a service user configured: the Keystone trust from the user to
    # it, deleted when the job ends (see image_importer.api.keystone).
    trust_id = models.CharField(max_length=64, blank=True)

    state = models.CharField(max_length=16, choices=STATE_CHOICES,
                             default=QUEUED)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(null=True, blank=True)
    phase_started_at = models.DateTimeField(null=True, blank=True)
    source_format = models.CharField(max_length=16, blank=True)
    virtual_size = models.BigIntegerField(null=True, blank=True)
    image_size = models.BigIntegerField(null=True, blank=True)
    image_id = models.CharField(max_length=64, blank=True)
    compression = models.CharField(max_length=16, blank=True)
    archive_member = models.CharField(max_length=255, blank=True)
    checksums = models.JSONField(default=dict, blank=True)
    checksum_verified = models.CharField(max_length=16, blank=True)
    suggestions = models.JSONField(default=dict, blank=True)
    # What the image is checked against and who vouches for it
    # (``engine.provenance.Provenance.as_dict``), known before the
    # download.
    provenance = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    # The subscription that started it (which owns its trust), and the
    # build it imports.
    subscription = models.ForeignKey(Subscription, null=True, blank=True,
                                     on_delete=models.SET_NULL,
                                     related_name='jobs')
    build = models.CharField(max_length=2048, blank=True)
    # The user who submitted it knows it ended: told by a message on a
    # page, or saw it in the table or on its page (``jobs.notices``).
    notified = models.BooleanField(default=False)

    # Timeline: [{'phase', 'start', 'end', 'bytes'}], oldest first.
    phases = models.JSONField(default=list, blank=True)

    lease_owner = models.CharField(max_length=255, blank=True)
    # How many times a worker took the job, and the last one that did.
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True)
    lease_expires = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ('-created_at',)
        indexes = [
            models.Index(fields=['project_id', '-created_at']),
            models.Index(fields=['state', 'lease_expires']),
        ]

    def __str__(self):
        return '%s (%s)' % (self.image_name, self.state)

    @property
    def is_running(self):
        return self.state in self.RUNNING

    @property
    def is_finished(self):
        return self.state in self.END_STATES

    @property
    def left_image(self):
        """The unfinished image a failed job could not delete, or ''."""
        if self.state == self.FAILED and self.image_id:
            return (self.error_params or {}).get('left_image', '')
        return ''

    def _closed_phases(self, now):
        """The timeline with the current phase ended now."""
        phases = [dict(p) for p in self.phases]
        if phases and 'end' not in phases[-1]:
            phases[-1].update(end=now.isoformat(), bytes=self.bytes_done)
        return phases

    # -- state changes -----------------------------------------------------

    def _move(self, to, holder=None, **fields):
        """Move to ``to`` if the table allows it and nobody moved us first.

        ``holder`` additionally requires that it still holds the lease.
        """
        if to not in self.TRANSITIONS[self.state]:
            raise InvalidTransition('%s -> %s' % (self.state, to))
        now = timezone.now()
        fields.update(state=to, updated_at=now)
        if self.state in self.RUNNING and 'phases' not in fields:
            fields['phases'] = self._closed_phases(now)
        if to in self.RUNNING:
            fields['phases'] = fields.get('phases', self.phases) + [
                {'phase': to, 'start': now.isoformat()}]
        if to in self.END_STATES:
            # The token goes at once; the source's credentials stay
            # (encrypted) only while a failed job may still be retried.
            fields.update(finished_at=now, auth_token='')  # nosec B106
            if not (to == self.CANCELLED and self.state in self.RUNNING):
                fields.update(lease_owner='', lease_expires=None)
            # A running job cancelled keeps its lease until its run has
            # stopped (``release``): until then it holds its place under
            # the running limits.
            if to == self.ACTIVE:
                fields['source_credentials'] = ''
        conditions = {'state': self.state}
        if holder is not None:
            conditions['lease_owner'] = holder
        self._update(fields, **conditions)

    def _update(self, fields, **conditions):
        """Write ``fields`` if the row still matches ``conditions`` (one
        conditional UPDATE), and keep them here; else StateConflict."""
        rows = ImportJob.objects.filter(pk=self.pk, **conditions)
        if rows.update(**fields) != 1:
            raise StateConflict(self.pk)
        for name, value in fields.items():
            setattr(self, name, value)

    @classmethod
    def claim(cls, job_id, owner, lease_seconds):
        """Take a queued job for ``owner``; None if someone else has it."""
        try:
            job = cls.objects.get(pk=job_id)
        except cls.DoesNotExist:
            return None
        if job.state != cls.QUEUED:
            return None
        now = timezone.now()
        try:
            job._move(cls.DOWNLOADING, lease_owner=owner, worker=owner,
                      attempts=job.attempts + 1,
                      lease_expires=now + datetime.timedelta(
                          seconds=lease_seconds),
                      phase_started_at=now, bytes_done=0, bytes_total=None)
        except StateConflict:
            return None
        return job

    def begin_phase(self, phase):
        """A running job enters ``phase`` (one of RUNNING)."""
        if phase == self.state:
            return
        self._move(phase, holder=self.lease_owner,
                   phase_started_at=timezone.now(), bytes_done=0,
                   bytes_total=None)

    def note_route(self, route, source_format):
        """The route the image takes to Glance (``engine.pipeline.Route``'s
        name), kept on the current phase of the timeline, and the format
        found in the file, which chose it."""
        phases = [dict(p) for p in self.phases]
        if phases:
            phases[-1]['routes'] = phases[-1].get('routes', []) + [route]
        self._update({'phases': phases, 'source_format': source_format},
                     state=self.state, lease_owner=self.lease_owner)

    def note_provenance(self, provenance):
        """What the image will be checked against, and who vouches for
        it, decided before the download."""
        self._update({'provenance': provenance}, state=self.state,
                     lease_owner=self.lease_owner)

    def record_progress(self, done, total, lease_seconds, **fields):
        """Write progress and renew the lease; StateConflict if we lost it."""
        now = timezone.now()
        fields.update(bytes_done=done, bytes_total=total, updated_at=now,
                      lease_expires=now + datetime.timedelta(
                          seconds=lease_seconds))
        self._update(fields, state=self.state, lease_owner=self.lease_owner)

    @classmethod
    def renew_lease(cls, job_id, owner, lease_seconds):
        """Extend the lease ``owner`` holds on a running job; False if it
        holds none (the job was cancelled, deleted or taken over)."""
        return cls.objects.filter(
            pk=job_id, state__in=cls.RUNNING, lease_owner=owner).update(
                lease_expires=timezone.now() + datetime.timedelta(
                    seconds=lease_seconds)) == 1

    @classmethod
    def release(cls, job_id, owner):
        """The run of ``owner`` has stopped: an ended job it held no
        longer holds a place under the running limits."""
        cls.objects.filter(pk=job_id, lease_owner=owner,
                           state__in=cls.END_STATES).update(
                               lease_owner='', lease_expires=None)

    @classmethod
    def holding_places(cls):
        """The jobs that count under the running limits: those running,
        and those cancelled whose run has not yet stopped (its lease not
        released, nor run out)."""
        return cls.objects.filter(
            models.Q(state__in=cls.RUNNING) |
            models.Q(state=cls.CANCELLED, lease_expires__gt=timezone.now()))

    def succeed(self, image_size, **fields):
        """Active; ``fields`` are the import's findings (image_id, ...)."""
        self._move(self.ACTIVE, holder=self.lease_owner,
                   image_size=image_size, bytes_done=image_size,
                   bytes_total=image_size, **fields)

    def fail(self, code, params=None, holder=None):
        self._move(self.FAILED, holder=holder, error_code=code,
                   error_params=params or {})

    def cancel(self):
        self._move(self.CANCELLED)

    def defer(self):
        """Give a job just claimed, and not started, back to the queue as
        if the claim never happened: the attempt is not counted and the
        timeline loses the phase the claim opened. StateConflict if the
        job moved on first (it was cancelled)."""
        if self.state != self.DOWNLOADING:
            raise InvalidTransition('%s -> %s (defer)' % (self.state,
                                                          self.QUEUED))
        phases = [dict(p) for p in self.phases]
        if phases and phases[-1].get('phase') == self.state and (
                'end' not in phases[-1]):
            phases.pop()
        self._move(self.QUEUED, holder=self.lease_owner, lease_owner='',
                   lease_expires=None, attempts=max(self.attempts - 1, 0),
                   phases=phases, phase_started_at=None, bytes_done=0,
                   bytes_total=None)

    def requeue(self):
        """Give a job whose worker vanished back to the queue."""
        self._move(self.QUEUED, holder=self.lease_owner, lease_owner='',
                   lease_expires=None)
