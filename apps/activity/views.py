from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from apps.accounts.permissions import is_manager
from apps.query.models import QueryJob

from .models import Event


def _search(events: QuerySet[Event], request: HttpRequest) -> QuerySet[Event]:
    text = request.GET.get("q", "").strip()
    kind = request.GET.get("kind", "").strip()
    if text:
        events = events.filter(Q(summary__icontains=text) | Q(kind__icontains=text) | Q(user__username__icontains=text))
    if kind:
        events = events.filter(kind=kind)
    return events


def _with_jobs(request: HttpRequest, events: list[Event]) -> None:
    """Give each event about a query job the job's query text (``e.job``), in one query, when the viewer may see it:
    the page links to the job instead of showing a bare id."""
    ids = {str(e.details.get("job")) for e in events if isinstance(e.details, dict) and e.details.get("job")}
    jobs = QueryJob.objects.filter(pk__in=[i for i in ids if _is_uuid(i)]).only("id", "query", "owner_id", "table_name")
    if not is_manager(request.user):
        jobs = jobs.filter(owner_id=request.user.pk)
    found = {str(j.id): j for j in jobs}
    for e in events:
        e.job = found.get(str(e.details.get("job"))) if isinstance(e.details, dict) else None  # type: ignore[attr-defined]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _page(request: HttpRequest, events: QuerySet[Event], template: str, **extra: object) -> HttpResponse:
    page = Paginator(_search(events, request), 50).get_page(request.GET.get("page"))
    _with_jobs(request, list(page))
    kinds = Event.objects.values_list("kind", flat=True).distinct().order_by("kind")
    return render(request, template, {"page": page, "kinds": kinds, "q": request.GET.get("q", ""), "kind": request.GET.get("kind", ""), **extra})


@login_required
def my_activity(request: HttpRequest) -> HttpResponse:
    return _page(request, Event.objects.filter(user_id=int(request.user.pk or 0)), "activity/my_activity.html")


@login_required
def all_activity(request: HttpRequest) -> HttpResponse:
    if not is_manager(request.user):
        raise PermissionDenied
    return _page(request, Event.objects.select_related("user"), "activity/all_activity.html")


@login_required
def statistics(request: HttpRequest) -> HttpResponse:
    """Usage over the last N days: per day, per kind, most active users."""
    if not is_manager(request.user):
        raise PermissionDenied
    try:
        days = min(max(int(request.GET.get("days", "30")), 1), 3650)
    except ValueError:
        days = 30
    recent = Event.objects.filter(time__gte=timezone.now() - timedelta(days=days))
    context = {
        "days": days,
        "per_day": recent.annotate(day=TruncDate("time")).values("day").annotate(n=Count("id")).order_by("-day"),
        "per_kind": recent.values("kind").annotate(n=Count("id")).order_by("-n"),
        "per_user": recent.exclude(user=None).values("user__username").annotate(n=Count("id")).order_by("-n")[:20],
        "total": recent.count(),
    }
    return render(request, "activity/statistics.html", context)
