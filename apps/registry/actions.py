"""Side effects of the registry: keeping each published record's dates and deletion state.

``do_sync_records()`` builds the records from the metadata as they are now, compares each
with its stored digest (a changed title, creator, licence, MOC... moves ``updated``),
marks records that disappeared (a table unpublished or made private) as deleted, and
returns the OAI-PMH records, deleted ones included, in harvest order.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from . import oai
from .models import RegistryRecord
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
        if row is None:
            row = RegistryRecord.objects.create(identifier=data.identifier, table_id=table_pk, digest=content,
                                                created=now, updated=now)
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
