"""Root volumes (configured by the operator) and the volumes users keep in them.

A root is a folder on the server: a backed-up Storage root with a per-user
quota, a Temporary root cleaned by age, or a read-only data collection. A
user volume is a sub-folder of a root, named on disk by ids (never by the
user's text), linked to an access Resource of type "volume" for sharing.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from apps.access.models import Resource


class RootVolume(models.Model):
    KIND_STORAGE = "storage"
    KIND_TEMPORARY = "temporary"
    KIND_DATA = "data"
    KINDS = [(KIND_STORAGE, "Storage (backed up, quota)"), (KIND_TEMPORARY, "Temporary (cleaned by age)"), (KIND_DATA, "Data (read-only)")]

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=KINDS)
    path = models.CharField(max_length=1000, help_text="Folder on the server; set by the operator in the settings.")
    description = models.TextField(blank=True)
    quota_bytes = models.BigIntegerField(null=True, blank=True, validators=[MinValueValidator(0)],
                                         help_text="Per user, over all their volumes in this root; empty: none.")
    max_age_days = models.PositiveIntegerField(null=True, blank=True, help_text="Files older than this are removed (Temporary roots).")

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def read_only(self) -> bool:
        return self.kind == self.KIND_DATA


class Volume(models.Model):
    root = models.ForeignKey(RootVolume, on_delete=models.CASCADE, related_name="volumes")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="volumes")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False)
    resource = models.OneToOneField(Resource, on_delete=models.CASCADE, related_name="volume")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["root__kind", "root__name", "name"]
        constraints = [models.UniqueConstraint(fields=["root", "owner", "name"], name="volume_names_unique_per_owner_and_root")]

    def __str__(self) -> str:
        return f"{self.root.name}/{self.owner.username if self.owner else ''}/{self.name}".replace("//", "/")

    @property
    def read_only(self) -> bool:
        return self.root.read_only

    @property
    def directory(self) -> Path:
        """A data volume is its root; a user volume is root/<owner id>/<volume id>."""
        base = Path(self.root.path)
        if self.owner_id is None:
            return base
        return base / str(self.owner_id) / str(self.pk)
