"""The query job: one model behind the web pages, TAP sync and TAP async."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from apps.uws import phases


class QueryJob(models.Model):
    SOURCE_WEB = "web"
    SOURCE_TAP_SYNC = "tap-sync"
    SOURCE_TAP_ASYNC = "tap-async"
    SOURCES = [(SOURCE_WEB, "Web page"), (SOURCE_TAP_SYNC, "TAP sync"), (SOURCE_TAP_ASYNC, "TAP async")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="query_jobs",
        help_text="Empty for anonymous TAP jobs, which only their URL reaches.",
    )
    run_id = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=SOURCES, default=SOURCE_WEB)
    phase = models.CharField(max_length=10, choices=[(p, p) for p in phases.ALL], default=phases.PENDING, db_index=True)

    # What to run
    language = models.CharField(max_length=30, default="ADQL")  # ADQL, ADQL-2.0, ADQL-2.1, or a native language
    query = models.TextField()
    native_sql = models.TextField(blank=True, help_text="The SQL sent to the engine.")
    engine = models.CharField(max_length=20, blank=True)
    engine_reason = models.TextField(blank=True, help_text="Why this engine ran it: routing by size, the user's choice, "
                                     "or where its tables are (apps/query/routing.py).")
    queue = models.CharField(max_length=30, default="quick")
    maxrec = models.BigIntegerField(null=True, blank=True)
    response_format = models.CharField(max_length=100, blank=True)
    uploads = models.JSONField(default=list, blank=True, help_text="[{name, path}] of TAP_UPLOAD tables, private to the job.")
    parameters = models.JSONField(default=dict, blank=True, help_text="Other UWS parameters, as received.")
    execution_duration = models.PositiveIntegerField(default=0, help_text="Seconds; 0 = the queue's limit.")
    destruction = models.DateTimeField(null=True, blank=True)
    scratch = models.BooleanField(default=False, help_text="Kept in MyScratch: not counted against the MyDB quota (it has its own, "
                                  "QUERY_SCRATCH_BYTES) and deleted QUERY_SCRATCH_DAYS after it was made.")

    # What came out
    table_name = models.CharField(max_length=128, blank=True, help_text="The result's name in the owner's MyDB.")
    result_schema = models.CharField(max_length=128, blank=True)
    result_table = models.CharField(max_length=128, blank=True)
    result_columns = models.JSONField(default=list, blank=True, help_text="The result's columns (apps.adql.ColumnInfo.as_dict() of each).")
    row_count = models.BigIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    overflow = models.BooleanField(default=False, help_text="More rows than MAXREC existed.")
    error = models.TextField(blank=True)
    resource = models.OneToOneField(
        "access.Resource", null=True, blank=True, on_delete=models.SET_NULL, related_name="query_job",
        help_text="Made when the result is stored, so its owner can share it (apps/query/sharing.py).",
    )

    # When
    # A default rather than auto_now_add: a sync query's job is written (in a batch) after it ran, and
    # keeps the time it was asked (apps/query/sync.py).
    created = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    plan = models.JSONField(default=dict, blank=True, help_text="The plan made when it was queued (reused by a worker that starts soon after).")
    queued = models.DateTimeField(null=True, blank=True, help_text="When it last went to the broker (the reaper re-sends lost ones).")
    heartbeat = models.DateTimeField(null=True, blank=True, help_text="Last sign of life from the worker running it.")
    worker = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["owner", "-created"]), models.Index(fields=["phase", "heartbeat"]),
            # The jobs that keep a result, per owner: what their space for results holds (quotas.used_by, read
            # before every job runs). Most jobs keep none (TAP sync queries, anonymous ones above all), and
            # without it that sum read every job of the owner, 6 ms for 4,400 anonymous jobs.
            models.Index(fields=["owner", "scratch"], condition=~models.Q(result_table=""), name="query_job_kept_result_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.phase}"

    @property
    def is_final(self) -> bool:
        return self.phase in phases.FINAL


class QueryQuota(models.Model):
    """Space for stored results, for one user or for the members of one group.

    A user's own row wins; otherwise the largest of their groups' rows;
    otherwise settings.QUERY_QUOTA_BYTES.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="query_quota")
    group = models.OneToOneField("access.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="query_quota")
    bytes = models.BigIntegerField(validators=[MinValueValidator(0)], help_text="Space for stored query results, in bytes.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True) | models.Q(user__isnull=True, group__isnull=False),
                name="query_quota_for_user_or_group",
            )
        ]

    def __str__(self) -> str:
        return f"quota {self.bytes} B for {self.user or self.group}"


class PublicationRequest(models.Model):
    """A user asks for a MyDB table to become a published, citable table; a data manager decides in the admin.

    Approving copies the data into a published schema (apps/metadata ingest), with this text as its
    description and citation and the result's column units and UCDs: it then shows in TAP_SCHEMA, and the
    user's MyDB table stays theirs (apps/query/publication.py).
    """

    PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
    STATUSES = [(PENDING, "waiting for a data manager"), (APPROVED, "approved and published"), (REJECTED, "rejected")]

    job = models.ForeignKey(QueryJob, on_delete=models.CASCADE, related_name="publication_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="publication_requests")
    table_name = models.CharField(max_length=64, help_text="The name of the published table.")
    title = models.CharField(max_length=255)
    description = models.TextField()
    citation = models.TextField(help_text="How to cite these data.")
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING, db_index=True)
    note = models.TextField(blank=True, help_text="The data manager's reason, shown to the user.")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided = models.DateTimeField(null=True, blank=True)
    published_table = models.ForeignKey("metadata.Table", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"
