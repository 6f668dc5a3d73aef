"""Celery tasks of the registry: a published table's sky coverage (MOC)."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.metadata.models import Table
from apps.registry.actions import do_compute_coverage

log = logging.getLogger(__name__)


@shared_task(name="registry.compute_coverage", acks_late=True)
def compute_coverage(table_id: int) -> None:
    table = Table.objects.select_related("schema", "resource").filter(pk=table_id).first()
    if table is None:
        return
    try:
        do_compute_coverage(table)
    except Exception:  # a table the engine cannot read now keeps its old MOC; the admin can recompute it
        log.exception("coverage of %s not computed", table)
