"""The publishers' console: schemas, tables with inline columns, discover/ingest/publish through the actions."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import URLPattern, path, reverse

from apps.access.actions import do_create_resource

from . import actions
from .files import REJECT
from .forms import DiscoverForm, ImportMetadataForm, IngestForm, TableAdminForm
from .models import Column, Function, IngestRun, Schema, Table
from .votable import metadata_votable


def incoming_dir() -> Path:
    """Where publishers put large files on the server for ingest."""
    return Path(settings.VAR_DIR) / "incoming"


def _uploads_dir() -> Path:
    """Uploaded files wait here for the worker (shared by web and worker processes), removed after ingest."""
    folder = Path(settings.VAR_DIR) / "uploads" / "ingest"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _report(request: HttpRequest, exc: Exception) -> None:
    messages.error(request, "; ".join(getattr(exc, "messages", None) or [str(exc)]))


class PrivilegeSyncMixin:
    """Objects made in the admin get their access.Resource; level changes become privileges."""

    resource_type = ""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            name = str(obj.qualified_name if isinstance(obj, Table) else obj.name)
            obj.resource = do_create_resource(self.resource_type, name, request.user)  # type: ignore[arg-type]
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        actions.sync_privileges(obj)


@admin.register(Schema)
class SchemaAdmin(PrivilegeSyncMixin, admin.ModelAdmin):
    resource_type = "schema"
    list_display = ("name", "title", "engine", "access_level", "metadata_access_level", "published", "order")
    list_filter = ("engine", "published", "access_level")
    search_fields = ("name", "title", "description")
    list_editable = ("order",)
    exclude = ("resource",)
    change_list_template = "metadata/admin/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path("ingest/", self.admin_site.admin_view(self.ingest_view), name="metadata_ingest"),
            path("discover/", self.admin_site.admin_view(self.discover_view), name="metadata_discover"),
            path("ingest/<str:job_id>/", self.admin_site.admin_view(self.ingest_status_view), name="metadata_ingest_status"),
        ]
        return extra + super().get_urls()

    def ingest_view(self, request: HttpRequest) -> HttpResponse:
        """Upload (or pick from the incoming folder) a FITS/VOTable/CSV/Parquet file; a worker loads it, this page follows it."""
        self._require_add(request)
        form = IngestForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                job_id = self._start_ingest(request, form.cleaned_data)
            except (ValidationError, PermissionDenied, OSError) as exc:
                _report(request, exc)
            else:
                return HttpResponseRedirect(reverse("admin:metadata_ingest_status", args=[job_id]))
        context = {**self.admin_site.each_context(request), "title": "Ingest a catalogue file", "form": form,
                   "incoming": incoming_dir(), "opts": self.model._meta}
        return render(request, "metadata/admin/form.html", context)

    def _require_add(self, request: HttpRequest) -> None:
        """Staff who may not add schemas (Django model permissions) may not load data either."""
        if not self.has_add_permission(request):
            raise PermissionDenied

    def _start_ingest(self, request: HttpRequest, data: dict[str, Any]) -> str:
        options = {"schema": data["schema"], "table": data["table"], "engine": data["engine"], "fmt": data["format"] or None,
                   "replace": data["replace"], "bad_cells": data.get("bad_cells") or REJECT, "layout": data.get("layout") or "auto"}
        if data.get("partition_rows"):
            options["hats"] = {"pixel_threshold": data["partition_rows"]}
        if data.get("server_path"):
            root = incoming_dir().resolve()
            source = (root / data["server_path"]).resolve()
            if not source.is_relative_to(root) or not source.is_file():
                raise ValidationError(f"No such file in {root}.")
            return actions.do_start_ingest(request.user, source, publish=data["publish"], **options)  # type: ignore[arg-type]
        upload = data["file"]
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=_uploads_dir()))
        target = folder / Path(upload.name).name
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        return actions.do_start_ingest(request.user, target, remove_after=True, publish=data["publish"], **options)  # type: ignore[arg-type]

    def ingest_status_view(self, request: HttpRequest, job_id: str) -> HttpResponse:
        run = IngestRun.objects.select_related("table", "table__schema").filter(pk=job_id).first()
        if run is None or (run.user_id != request.user.pk and not request.user.is_superuser):
            raise Http404("No such ingest.")
        percent = int(100 * run.done / run.total) if run.total else None
        context = {**self.admin_site.each_context(request), "title": f"Ingest of {run.name}", "run": run,
                   "percent": percent, "table": run.table, "opts": self.model._meta}
        return render(request, "metadata/admin/ingest_status.html", context)

    def discover_view(self, request: HttpRequest) -> HttpResponse:
        self._require_add(request)
        form = DiscoverForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                tables = actions.do_discover_schema(request.user, data["schema"], engine=data["engine"],  # type: ignore[arg-type]
                                                    table=data["table"] or None)
            except Exception as exc:  # engine errors arrive in many types; show them to the publisher
                _report(request, exc)
            else:
                messages.success(request, f"Discovered {len(tables)} table(s): {', '.join(t.qualified_name for t in tables)}.")
                return HttpResponseRedirect(reverse("admin:metadata_table_changelist"))
        context = {**self.admin_site.each_context(request), "title": "Discover tables in a database", "form": form, "opts": self.model._meta}
        return render(request, "metadata/admin/form.html", context)


class ColumnInline(admin.TabularInline):
    model = Column
    extra = 0
    fields = ("order", "name", "datatype", "arraysize", "xtype", "unit", "ucd", "description", "principal", "indexed", "std", "access_level")


@admin.register(Table)
class TableAdmin(PrivilegeSyncMixin, admin.ModelAdmin):
    resource_type = "table"
    list_display = ("__str__", "title", "row_count", "access_level", "published", "withdrawn", "published_on")
    list_filter = ("published", "withdrawn", "access_level", "schema__engine", "schema", "licence")
    search_fields = ("name", "title", "description", "schema__name", "columns__name")
    list_select_related = ("schema",)
    form = TableAdminForm
    exclude = ("resource",)
    readonly_fields = ("partition_orders",)  # how the files are partitioned: set by ingest and discovery
    inlines = [ColumnInline]
    actions = ["publish", "unpublish", "withdraw", "restore", "refresh_from_database", "export_metadata", "delete_selected"]
    change_form_template = "metadata/admin/table_change_form.html"
    delete_confirmation_template = "metadata/admin/table_delete_confirmation.html"
    delete_selected_confirmation_template = "metadata/admin/table_delete_selected_confirmation.html"
    change_list_template = "metadata/admin/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Table]:
        return super().get_queryset(request).distinct()

    def get_urls(self) -> list[URLPattern]:
        extra = [path("<int:table_id>/import-metadata/", self.admin_site.admin_view(self.import_view), name="metadata_import")]
        return extra + super().get_urls()

    @admin.action(description="Publish the selected tables", permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[Table]) -> None:
        for t in queryset.select_related("schema"):
            actions.do_publish_table(request.user, t)  # type: ignore[arg-type]
        messages.success(request, f"Published {queryset.count()} table(s).")

    @admin.action(description="Unpublish the selected tables", permissions=["change"])
    def unpublish(self, request: HttpRequest, queryset: QuerySet[Table]) -> None:
        for t in queryset.select_related("schema"):
            actions.do_unpublish_table(request.user, t)  # type: ignore[arg-type]
        messages.success(request, f"Unpublished {queryset.count()} table(s).")

    @admin.action(description="Withdraw the selected tables (keep the data, hide them from everyone)", permissions=["change"])
    def withdraw(self, request: HttpRequest, queryset: QuerySet[Table]) -> None:
        for t in queryset.select_related("schema"):
            actions.do_withdraw_table(request.user, t)  # type: ignore[arg-type]
        messages.success(request, f"Withdrew {queryset.count()} table(s): hidden from TAP, TAP_SCHEMA, VOSI and the pages; "
                                  "their data is kept. Restore them with “Restore withdrawn tables”.")

    @admin.action(description="Restore withdrawn tables", permissions=["change"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Table]) -> None:
        for t in queryset.select_related("schema"):
            actions.do_restore_table(request.user, t)  # type: ignore[arg-type]
        messages.success(request, f"Restored {queryset.count()} table(s).")

    @admin.action(description="Refresh columns and row counts from the database", permissions=["change"])
    def refresh_from_database(self, request: HttpRequest, queryset: QuerySet[Table]) -> None:
        for t in queryset.select_related("schema"):
            try:
                actions.do_discover_schema(request.user, t.schema.name, engine=t.schema.engine, table=t.name)  # type: ignore[arg-type]
            except Exception as exc:
                _report(request, exc)
        messages.success(request, "Refreshed from the database.")

    @admin.action(description="Export metadata as VOTable (first selected table)")
    def export_metadata(self, request: HttpRequest, queryset: QuerySet[Table]) -> HttpResponse:
        table = queryset.select_related("schema").first()
        assert table is not None
        response = HttpResponse(metadata_votable(table), content_type="application/x-votable+xml")
        response["Content-Disposition"] = f'attachment; filename="{table.qualified_name}.vot"'
        return response

    def import_view(self, request: HttpRequest, table_id: int) -> HttpResponse:
        table = get_object_or_404(Table.objects.select_related("schema"), pk=table_id)
        if not self.has_change_permission(request, table):
            raise PermissionDenied
        form = ImportMetadataForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            with tempfile.NamedTemporaryFile(suffix=".vot") as tmp:
                shutil.copyfileobj(form.cleaned_data["votable"], tmp)
                tmp.flush()
                try:
                    changed = actions.do_import_metadata(request.user, table, tmp.name,  # type: ignore[arg-type]
                                                         overwrite=form.cleaned_data["overwrite"])
                except (ValidationError, ValueError) as exc:
                    _report(request, exc)
                else:
                    messages.success(request, f"Updated {changed} column(s) of {table.qualified_name}.")
                    return HttpResponseRedirect(reverse("admin:metadata_table_change", args=[table.pk]))
        context = {**self.admin_site.each_context(request), "title": f"Import metadata into {table.qualified_name}", "form": form,
                   "opts": self.model._meta}
        return render(request, "metadata/admin/form.html", context)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        found: dict[str, Any] = dict(super().get_actions(request))
        if "delete_selected" in found:  # say what it does: the data goes too
            func, name, _ = found["delete_selected"]
            found["delete_selected"] = (func, name, "Delete the selected tables and their data")
        return found

    def delete_model(self, request: HttpRequest, obj: Table) -> None:
        actions.do_delete_table(request.user, obj, drop_data=True)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Table]) -> None:
        for table in queryset.select_related("schema"):
            actions.do_delete_table(request.user, table, drop_data=True)  # type: ignore[arg-type]

    def save_model(self, request: HttpRequest, obj: Table, form: Any, change: bool) -> None:
        was_published = change and Table.objects.filter(pk=obj.pk, published=True).exists()
        super().save_model(request, obj, form, change)
        if obj.published and not was_published:
            actions.do_publish_table(request.user, obj)  # type: ignore[arg-type]


@admin.register(Column)
class ColumnAdmin(admin.ModelAdmin):
    list_display = ("name", "table", "datatype", "unit", "ucd", "principal", "indexed", "access_level")
    list_filter = ("datatype", "principal", "indexed", "access_level", "table__schema")
    search_fields = ("name", "description", "ucd", "table__name")
    list_select_related = ("table", "table__schema")


@admin.register(Function)
class FunctionAdmin(admin.ModelAdmin):
    list_display = ("name", "return_type", "signature", "published")
    list_filter = ("published", "return_type")
    search_fields = ("name", "description")


@admin.register(IngestRun)
class IngestRunAdmin(admin.ModelAdmin):
    """Past and running ingests, with their outcome: a failed one stays listed with its reason."""

    list_display = ("created", "name", "target", "state", "done", "user", "reason")
    list_filter = ("state",)
    search_fields = ("name", "target", "message")
    list_select_related = ("user",)
    readonly_fields = ("id", "user", "name", "target", "state", "done", "total", "message", "report", "table", "created", "updated")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="message")
    def reason(self, run: IngestRun) -> str:
        """The first words; the whole message is on the run's page."""
        return run.message if len(run.message) <= 90 else run.message[:89] + "…"
