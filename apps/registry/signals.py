"""Publishing a positional table (or changing its row count) queues the computation of its MOC."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.metadata.models import Table

from .actions import coverage_needed, queue_coverage


@receiver(post_save, sender=Table, dispatch_uid="registry.coverage_on_publish")
def coverage_on_publish(sender: type[Table], instance: Table, raw: bool = False, **kwargs: Any) -> None:
    if not raw and coverage_needed(instance):
        queue_coverage(instance)
