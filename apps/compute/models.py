"""Container images, compute domains (Docker endpoints with limits), batch jobs and notebook sessions."""

from __future__ import annotations

import urllib.parse
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.access.models import Resource
from apps.uws import phases


class ComputeImage(models.Model):
    """A container image operators offer; who may run it is the "run" privilege of its resource."""

    name = models.CharField(max_length=100, unique=True)
    docker_image = models.CharField(max_length=255, help_text="Image reference in the engine, e.g. daiquiri/python:latest.")
    description = models.TextField(blank=True)
    notebooks = models.BooleanField(default=False, help_text="Has jupyter nbconvert and a python3 kernel.")
    jupyterlab = models.BooleanField(default=False, help_text="Has JupyterLab and start-session: offered for interactive notebook sessions.")
    enabled = models.BooleanField(default=True)
    resource = models.OneToOneField(Resource, on_delete=models.CASCADE, related_name="compute_image")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ComputeDomain(models.Model):
    """A Docker engine and the limits every job in it gets."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    docker_host = models.CharField(max_length=255, blank=True, help_text="Empty: settings.DOCKER_HOST.")
    cpus = models.FloatField(default=1.0, help_text="CPU cores per job.")
    memory_mb = models.PositiveIntegerField(default=1024, help_text="Memory per job (no swap beyond it).")
    max_runtime_s = models.PositiveIntegerField(default=3600, help_text="A job running longer is stopped and fails.")
    max_jobs = models.PositiveIntegerField(default=2, help_text="Jobs running at once; more wait in the queue.")
    max_sessions_per_user = models.PositiveIntegerField(default=3, help_text="Notebook sessions one user may have open here.")
    session_idle_s = models.PositiveIntegerField(default=3 * 24 * 3600, help_text="A notebook session idle this long is stopped.")
    network = models.CharField(
        max_length=100, blank=True,
        help_text="Docker network for jobs that ask for one; empty: jobs never get a network. Jobs reach the portal "
                  "through its gateway socket without any network. 'host' (or any network reaching the host) needs 'trusted'.",
    )
    trusted = models.BooleanField(
        default=False, help_text="Only for domains whose every user is trusted with the host's network: allows network 'host'.",
    )
    spark_connect = models.BooleanField(
        "offer Spark Connect to notebook sessions", default=False,
        help_text="Sessions here get a Spark Connect client pointed at the address below (SPARK_REMOTE in the session, "
                  "Portal().spark()). Spark Connect has no per-user authentication, and a DataFrame reader opens any path "
                  "the Spark server can read: every user of this domain can then read whatever that Spark server can read, "
                  "private tables and other users' MyDB included. Turn it on only for a Spark whose data is all public (as on "
                  "the Gaia DataMining platform); never for the Spark engine that holds MyDB or private tables.",
    )
    spark_remote = models.CharField(
        "Spark Connect address", max_length=500, blank=True,
        help_text="sc://host:port[/;param=value...] of the Spark Connect server sessions reach (plain gRPC; the session reaches "
                  "it through a gateway socket and nothing else of the host). Empty: the portal's own SPARK_REMOTE, which is "
                  "the engine holding MyDB unless this portal keeps only public data in Spark.",
    )
    enabled = models.BooleanField(default=True)
    resource = models.OneToOneField(
        Resource, null=True, blank=True, on_delete=models.SET_NULL, related_name="compute_domain",
        help_text='Who may run jobs here is the "run" privilege of this resource; a domain without one takes no jobs.',
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.spark_connect:
            error = spark_address_error(self.offered_spark_remote())
            if error:
                raise ValidationError({"spark_remote" if self.spark_remote else "spark_connect": error})

    def offered_spark_remote(self) -> str:
        """The Spark Connect address this domain's sessions reach; empty when it offers none."""
        if not self.spark_connect:
            return ""
        return self.spark_remote or str(settings.SPARK_REMOTE)


def spark_address_error(address: str) -> str:
    """Why ``address`` cannot be offered to sessions (empty when it can): a plain sc://host:port."""
    if not address:
        return "No Spark Connect address: give one here, or set the portal's SPARK_REMOTE."
    parts = urllib.parse.urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        return f"{address!r} has no valid port."
    if parts.scheme != "sc" or not parts.hostname or port == 0:
        return f"{address!r} is not a Spark Connect address (sc://host:port)."
    if "use_ssl=true" in parts.path.lower():
        return "Sessions reach Spark Connect through a local forwarder, which a TLS certificate would not name: use plain gRPC."
    return ""


class ComputeJob(models.Model):
    KIND_COMMAND = "command"
    KIND_NOTEBOOK = "notebook"
    KINDS = [(KIND_COMMAND, "Shell command"), (KIND_NOTEBOOK, "Jupyter notebook")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="compute_jobs")
    run_id = models.CharField(max_length=255, blank=True)
    image = models.ForeignKey(ComputeImage, on_delete=models.PROTECT, related_name="jobs")
    domain = models.ForeignKey(ComputeDomain, on_delete=models.PROTECT, related_name="jobs")
    kind = models.CharField(max_length=10, choices=KINDS, default=KIND_COMMAND)
    command = models.TextField(blank=True, help_text="Run with /bin/sh -c in the working folder.")
    notebook = models.CharField(max_length=1000, blank=True, help_text="Path of the .ipynb, relative to the working folder.")
    mounts = models.JSONField(default=list, blank=True, help_text='[{"volume": id, "write": bool}] as requested.')
    workdir_volume = models.ForeignKey("files.Volume", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    workdir_path = models.CharField(max_length=1000, blank=True)
    network = models.BooleanField(default=False, help_text="Asked for the domain's network.")
    phase = models.CharField(max_length=10, choices=[(p, p) for p in phases.ALL], default=phases.PENDING, db_index=True)

    container_id = models.CharField(max_length=100, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)
    error = models.TextField(blank=True)
    outputs = models.JSONField(default=list, blank=True, help_text="Files written in the working folder: [{path, size}].")
    workdir_before = models.JSONField(default=dict, blank=True, help_text="(size, mtime) of the working folder's files at start.")
    watched = models.DateTimeField(null=True, blank=True, help_text="Last time a worker looked at the running container.")
    token_hash = models.CharField(max_length=64, blank=True, db_index=True, help_text="The running job's token (apps/compute/tokens.py).")

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["domain", "phase", "created"]), models.Index(fields=["owner", "-created"])]

    def __str__(self) -> str:
        return f"{self.id} {self.phase}"

    @property
    def is_final(self) -> bool:
        return self.phase in phases.FINAL

    @property
    def container_name(self) -> str:
        return f"daiquiri-job-{self.id}"

    @property
    def runtime_s(self) -> float | None:
        if self.start_time is None:
            return None
        from django.utils import timezone

        return ((self.end_time or timezone.now()) - self.start_time).total_seconds()


class ComputeSession(models.Model):
    """An interactive JupyterLab in a container, reached only through the portal's proxy (proxy.py)."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"
    STATES = [(STARTING, "starting"), (RUNNING, "running"), (STOPPED, "stopped"), (FAILED, "failed")]
    LIVE = (STARTING, RUNNING)
    IDLE_AFTER_S = 600

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="compute_sessions")
    image = models.ForeignKey(ComputeImage, on_delete=models.PROTECT, related_name="sessions")
    domain = models.ForeignKey(ComputeDomain, on_delete=models.PROTECT, related_name="sessions")
    mounts = models.JSONField(default=list, blank=True, help_text='[{"volume": id, "write": bool}] as granted.')
    state = models.CharField(max_length=10, choices=STATES, default=STARTING, db_index=True)
    container_id = models.CharField(max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, blank=True, db_index=True, help_text="The session's scoped key (tokens.py).")
    error = models.TextField(blank=True)
    stop_reason = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    ready_time = models.DateTimeField(null=True, blank=True, help_text="When JupyterLab first answered.")
    last_activity = models.DateTimeField(null=True, blank=True, help_text="Last request through the proxy or kernel activity.")
    end_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["owner", "state"])]

    def __str__(self) -> str:
        return f"{self.id} {self.state}"

    @property
    def is_live(self) -> bool:
        return self.state in self.LIVE

    @property
    def container_name(self) -> str:
        return f"daiquiri-session-{self.id}"

    @property
    def shown_state(self) -> str:
        """What the pages say: a running session nobody used for IDLE_AFTER_S is "idle" (the culler stops it later)."""
        from django.utils import timezone

        quiet = self.last_activity is not None and (timezone.now() - self.last_activity).total_seconds() > self.IDLE_AFTER_S
        return "idle" if self.state == self.RUNNING and quiet else self.state

    @property
    def base_url(self) -> str:
        """JupyterLab's base URL: the portal path the proxy serves it under."""
        return f"/compute/sessions/{self.id}/"
