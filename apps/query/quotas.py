"""Space for stored results: per user, per group, or the site default."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Max, QuerySet, Sum

from apps.access.models import Membership

from .models import QueryJob, QueryQuota


def quota_for(user: User | None, *, scratch: bool = False) -> int:
    """Bytes this user may fill: their own quota, else their groups' largest, else the default.
    MyScratch (``scratch``) is a second space of QUERY_SCRATCH_BYTES for everyone, cleaned by age."""
    if scratch:
        return int(getattr(settings, "QUERY_SCRATCH_BYTES", 10 * 1024**3))
    if user is None:
        return int(settings.QUERY_QUOTA_BYTES)
    own = QueryQuota.objects.filter(user=user).values_list("bytes", flat=True).first()
    if own is not None:
        return int(own)
    groups = Membership.objects.filter(user=user, status=Membership.STATUS_ACTIVE).values("group_id")
    best = QueryQuota.objects.filter(group_id__in=groups).aggregate(best=Max("bytes"))["best"]
    return int(best) if best is not None else int(settings.QUERY_QUOTA_BYTES)


def kept_results(user: User | None, *, scratch: bool = False) -> QuerySet[QueryJob]:
    """The jobs whose result this user keeps in MyDB, or in MyScratch (anonymous results share one pool);
    read through the index of kept results (models.py), whatever the number of jobs that keep none."""
    return QueryJob.objects.filter(owner=user, scratch=scratch).exclude(result_table="")


def used_by(user: User | None, *, scratch: bool = False) -> int:
    """Bytes of the results this user keeps in MyDB, or in MyScratch (anonymous results share one pool)."""
    return int(kept_results(user, scratch=scratch).aggregate(total=Sum("size_bytes"))["total"] or 0)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def usage(user: User) -> dict[str, object]:
    """What the quota bar shows: used, quota, percent, level, and the biggest tables (what to delete first)."""
    used, quota = used_by(user), quota_for(user)
    percent = min(100.0, 100.0 * used / quota) if quota > 0 else 100.0
    level = "full" if used >= quota else "warn" if percent >= 80 else "ok"
    stored = kept_results(user)
    biggest = list(stored.order_by("-size_bytes").only("id", "table_name", "size_bytes")[:5])
    return {"used": human_bytes(used), "quota": human_bytes(quota), "free": human_bytes(max(quota - used, 0)),
            "percent": round(percent, 1), "shown": "<1" if 0 < percent < 1 else f"{percent:.0f}", "level": level, "tables": stored.count(), "biggest": biggest}
