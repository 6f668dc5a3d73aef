"""The front door: the home page (what the data centre holds and the ways in), documentation, the contact form, health."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from apps.metadata.catalog import visible_tables

from .contact import ContactError, ContactForm, do_send_contact_message
from .docs import generated_pages, render_markdown
from .models import DocPage, NewsItem

FEATURED = 6
NEWS = 3


def _featured(request: HttpRequest) -> list[Any]:
    """The published tables this visitor may see, managers' order first (the table's position), then the largest."""
    tables = visible_tables(request.user, "read").select_related("schema")  # type: ignore[arg-type]
    return list(tables.order_by("order", "-row_count", "schema__name", "name")[:FEATURED])


def _url(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def home(request: HttpRequest) -> HttpResponse:
    tap = _url("tap:root")
    news = [(item, render_markdown(item.body)) for item in NewsItem.objects.filter(published=True)[:NEWS]]
    context = {"featured": _featured(request), "news": news, "tap_url": request.build_absolute_uri(tap).rstrip("/") if tap else "",
               "tap_page": tap, "query_url": _url("query:index"), "compute_url": _url("compute:index"),
               "limits_url": _url("query:limits"), "docs_url": _url("docs"), "adql_url": _url("query:adql_reference"), "data_url": _url("metadata:schemas")}
    return render(request, "core/home.html", context)


def contact(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["website"]:  # filled by robots only: accept quietly, send nothing
            messages.info(request, "Thank you: your message was sent to the portal's managers.")
            return redirect("home")
        try:
            do_send_contact_message(request, form.cleaned_data)
        except ContactError as exc:
            form.add_error(None, str(exc))
            return render(request, "core/contact.html", {"form": form}, status=429)
        messages.info(request, "Thank you: your message was sent to the portal's managers.")
        return redirect("home")
    if request.method == "GET" and request.user.is_authenticated:
        form = ContactForm(initial={"name": request.user.get_full_name() or request.user.get_username(),  # type: ignore[union-attr]
                                    "email": getattr(request.user, "email", "")})
    return render(request, "core/contact.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
def docs_index(request: HttpRequest) -> HttpResponse:
    pages = DocPage.objects.filter(published=True).only("slug", "title")
    return render(request, "core/docs_index.html", {"pages": pages, "generated": generated_pages()})


@require_GET
def doc_page(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(DocPage, slug=slug, published=True)
    version = page.versions.values_list("number", flat=True).first()
    return render(request, "core/doc_page.html", {"page": page, "html": render_markdown(page.body), "version": version})


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    return redirect(static("img/favicon.svg"), permanent=True)


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the portal answers and its database too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
