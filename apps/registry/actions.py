"""Side effects of the registry: keeping each published record's dates and deletion state.

``do_sync_records()`` builds the records from the metadata as they are now, compares each
with its stored digest (a changed title, creator, licence, MOC... moves ``updated``),
marks records that disappeared (a table unpublished or made private) as deleted, and
returns the OAI-PMH records, deleted ones included, in harvest order.

``do_compute_coverage(table)`` reads a positional table's positions through its engine
(as its owner, in constant memory) and stores its MOC; ``queue_coverage(table)`` asks a
worker to do it after the transaction that published the table commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.adql import adql_name
from apps.core.tasks import send_task
from apps.metadata.models import Table
from apps.query.planning import plan_query
from workers.engines import get_engine

from . import oai
from .coverage import moc_from_positions
from .models import RegistryRecord, TableCoverage
from .records import current_records
from .vor import digest, resource_element

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@transaction.atomic
def do_sync_records(now: dt.datetime | None = None) -> list[oai.Record]:
    now = (now or timezone.now()).replace(microsecond=0)
    stored = {r.identifier: r for r in RegistryRecord.objects.select_for_update()}
    elements = {}
    for data, table_pk in current_records():
        content = digest(resource_element(data, created=EPOCH, updated=EPOCH))
        row = stored.get(data.identifier)
        if row is None:  # get_or_create: two first harvests at once must not collide on the unique identifier
            row, _ = RegistryRecord.objects.get_or_create(identifier=data.identifier, defaults={
                "table_id": table_pk, "digest": content, "created": now, "updated": now})
            stored[row.identifier] = row
        elif row.digest != content or row.deleted:
            RegistryRecord.objects.filter(pk=row.pk).update(digest=content, updated=now, deleted=False, table_id=table_pk)
            row.digest, row.updated, row.deleted = content, now, False
        elements[data.identifier] = resource_element(data, created=row.created, updated=row.updated)
    for identifier, row in stored.items():
        if identifier not in elements and not row.deleted:
            RegistryRecord.objects.filter(pk=row.pk).update(deleted=True, updated=now)
            row.deleted, row.updated = True, now
    records = [oai.Record(r.identifier, r.updated, ("ivo_managed",), r.deleted, elements.get(r.identifier))
               for r in stored.values()]
    return sorted(records, key=lambda r: (r.datestamp, r.identifier))


log = logging.getLogger(__name__)
COVERAGE_TIMEOUT_S = 3600.0


def _reader(table: Table) -> User | None:
    """Whom the positions are read as: the table's owner, else a superuser (tables made by commands have no owner)."""
    owner = table.resource.owner
    return owner if owner is not None else User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()


def do_compute_coverage(table: Table) -> TableCoverage | None:
    """Compute and store the table's MOC; None for a table without positions."""
    if not table.position_columns:
        return None
    ra, dec = table.position_columns
    query = f"SELECT {adql_name(ra)}, {adql_name(dec)} FROM {adql_name(table.schema.name)}.{adql_name(table.name)}"
    plan = plan_query(_reader(table), query=query)
    batches = get_engine(plan.engine).stream(plan.sql, timeout_s=COVERAGE_TIMEOUT_S, job_id=f"moc-{uuid.uuid4().hex}")
    coverage = moc_from_positions(batches)
    found, _ = TableCoverage.objects.update_or_create(
        table=table, defaults={"order": coverage.order, "moc": coverage.ascii, "sky_fraction": coverage.sky_fraction,
                               "rows": coverage.rows})
    return found


def queue_coverage(table: Table) -> None:
    """After the publishing transaction commits, a worker computes the MOC (big tables do not fit in a request)."""
    table_id = table.pk

    def queue() -> None:
        send_task("registry.compute_coverage", table_id)

    transaction.on_commit(queue)


def coverage_needed(table: Table) -> bool:
    """A published positional table whose MOC is missing or was computed from another number of rows."""
    if not (table.published and table.position_columns):
        return False
    known = TableCoverage.objects.filter(table=table).values_list("rows", flat=True).first()
    return known is None or (table.row_count is not None and known != table.row_count)
