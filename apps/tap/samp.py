"""Links a SAMP client (TOPCAT, Aladin) can fetch without our session: signed and expiring.

A result link names a finished job; a table link names a query to run as the
user who made the link (so a private table reaches only that user's TOPCAT).
Both expire after TAP_RESULT_LINK_SECONDS (a day by default).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core import signing
from django.http import HttpRequest
from django.urls import reverse

from apps.query.models import QueryJob

RESULT_SALT = "tap.samp.result"
QUERY_SALT = "tap.samp.query"
TABLE_ROWS = 10_000  # rows of a table sent from its page


@dataclass(frozen=True)
class SignedQuery:
    query: str
    user_id: int | None
    maxrec: int | None


def max_age() -> int:
    return int(getattr(settings, "TAP_RESULT_LINK_SECONDS", 24 * 3600))


def result_url(request: HttpRequest, job: QueryJob) -> str:
    token = signing.dumps(str(job.id), salt=RESULT_SALT)
    return request.build_absolute_uri(reverse("tap:signed_result", args=[token]))


def job_id_of(token: str) -> str:
    """The job of a result link; BadSignature (or SignatureExpired) if forged or old."""
    return str(signing.loads(token, salt=RESULT_SALT, max_age=max_age()))


def table_url(request: HttpRequest, user: User | AnonymousUser, table: str, rows: int = TABLE_ROWS) -> str:
    """A VOTable of the first ``rows`` rows of ``table`` (schema.table), as ``user`` may see it."""
    payload = {"q": f"SELECT * FROM {table}", "u": user.pk if user.is_authenticated else None, "m": rows}
    token = signing.dumps(payload, salt=QUERY_SALT, compress=True)
    return request.build_absolute_uri(reverse("tap:signed_query", args=[token]))


def table_button(request: HttpRequest, user: User | AnonymousUser, table: str, row_count: int | None,
                 rows: int = TABLE_ROWS) -> dict[str, str]:
    """The context of a table's SAMP button: its link, and a label and table name that say how many rows go
    (all of them when the table is known to be small enough, else the first ``rows``)."""
    if row_count is not None and row_count <= rows:
        label, name = f"Send all {row_count:,} rows to TOPCAT/Aladin", table
    else:
        label, name = f"Send the first {rows:,} rows to TOPCAT/Aladin", f"{table} (first {rows} rows)"
    return {"samp_url": table_url(request, user, table, rows), "samp_name": name, "samp_label": label}


def query_of(token: str) -> SignedQuery:
    data = signing.loads(token, salt=QUERY_SALT, max_age=max_age())
    return SignedQuery(str(data["q"]), data.get("u"), data.get("m"))
