"""This portal as an OAI-PMH repository: the glue between oai.py (the protocol) and the stored records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.urls import reverse

from apps.core.branding import contact_email

from . import oai
from .actions import do_sync_records
from .records import registry_record
from .vor import resource_element


@dataclass
class PortalRepository:
    _records: list[oai.Record] = field(default_factory=do_sync_records)

    def identity(self) -> oai.Identity:
        earliest = min((r.datestamp for r in self._records), default=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        own = next((r.resource for r in self._records if r.resource is not None and
                    r.identifier.endswith("/registry")), None)
        if own is None:
            own = resource_element(registry_record(), created=earliest, updated=earliest)
        emails = (contact_email() or settings.DEFAULT_FROM_EMAIL,)
        return oai.Identity(f"{settings.SITE_NAME} publishing registry", f"{settings.SITE_URL}{reverse('registry:oai')}",
                            emails, earliest, (own,))

    def records(self) -> Sequence[oai.Record]:
        return self._records

    def sets(self) -> Sequence[tuple[str, str]]:
        return [("ivo_managed", "Resources managed by this registry")]
