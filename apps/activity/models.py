from __future__ import annotations

from django.conf import settings
from django.db import models


class Event(models.Model):
    """One meaningful thing that happened: who, when, what kind, details."""

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    kind = models.CharField(max_length=50, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True, help_text="Stored truncated (/24 for IPv4, /48 for IPv6).")
    summary = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["user", "-time"])]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M} {self.kind} {self.user or 'anonymous'}"
