"""Side effects of data publication. The admin console, the commands and the demo call these."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.access.actions import builtin_group, do_create_resource
from apps.access.models import Group, Privilege
from apps.activity.actions import do_record_event
from apps.adql import ColumnInfo
from apps.adql.catalog import SkyIndex
from apps.core.tasks import send_task
from workers.engines.base import EngineError, TableName
from workers.engines.hats import HIDDEN_COLUMNS, HatsSettings, progress_in_rows
from workers.engines.parquet import ParquetStore

from . import kinds
from .catalog import PARQUET_ENGINES, bump_metadata_version
from .datatypes import adql_type
from .files import REJECT, BadCellsError, open_catalogue, read_votable_sidecar
from .models import HATS_INDEX_COLUMN, OPENNESS, PRIVATE, PUBLIC, Column, Described, Function, IngestRun, Schema, Table
from .storage import drop_table, engine_schemas, live_tables, store_table, table_bytes
from .validators import validate_identifier, validate_ucd, validate_vounit
from .votable import parse_infos

Actor = User | AnonymousUser | None  # None: the portal itself (commands, demo)
_BUILTIN_FOR = {PUBLIC: Group.KIND_ANYONE, "internal": Group.KIND_PUBLIC}


def _require_publisher(actor: Actor) -> User | None:
    """Publishing is for staff (the admin console) and the portal itself."""
    if actor is None:
        return None
    if not (actor.is_authenticated and (actor.is_staff or actor.is_superuser)):
        raise PermissionDenied("Only data publishers (staff) may change published metadata.")
    return actor  # type: ignore[return-value]


def _record(kind: str, actor: Actor, summary: str, **details: Any) -> None:
    do_record_event(kind, user=actor if actor is not None else None, summary=summary, **details)


# --- access levels ------------------------------------------------------------------

def sync_privileges(obj: Described) -> None:
    """Make the built-in groups' privileges on ``obj`` match its access levels."""
    wanted = {("query", obj.access_level), ("read", obj.effective_metadata_level)}
    builtin = Privilege.objects.filter(resource=obj.resource, group__kind__in=[Group.KIND_ANYONE, Group.KIND_PUBLIC])
    keep: set[int] = set()
    for action, level in wanted:
        if level == PRIVATE:
            continue
        group = builtin_group(_BUILTIN_FOR[level])
        privilege, _ = Privilege.objects.get_or_create(resource=obj.resource, action=action, group=group)
        keep.add(privilege.pk)
    builtin.filter(action__in=["read", "query"]).exclude(pk__in=keep).delete()
    if isinstance(obj, Table) and obj.published:
        _open_schema_for(obj)


def _open_schema_for(table: Table) -> None:
    """A visible table in an invisible schema would be unreachable: publish the schema and open its description as far."""
    schema = table.schema
    if not schema.published:
        schema.published = True
        schema.save(update_fields=["published", "updated"])
    if OPENNESS[schema.effective_metadata_level] < OPENNESS[table.effective_metadata_level]:
        schema.metadata_access_level = table.effective_metadata_level
        schema.save(update_fields=["metadata_access_level", "updated"])
        sync_privileges(schema)


@transaction.atomic
def do_set_access_level(actor: Actor, obj: Described, access_level: str, metadata_access_level: str | None = None) -> Described:
    """Who may query (``access_level``) and who may see the description (``metadata_access_level``)."""
    _require_publisher(actor)
    levels = dict(OPENNESS)
    for level in (access_level, metadata_access_level):
        if level is not None and level not in levels:
            raise ValidationError(f"Unknown access level {level!r}: use public, internal or private.")
    obj.access_level = access_level
    obj.metadata_access_level = metadata_access_level or access_level
    obj.save(update_fields=["access_level", "metadata_access_level", "updated"])
    sync_privileges(obj)
    _record(kinds.ACCESS_CHANGED, actor, f"{obj} is now {obj.access_level} (metadata {obj.effective_metadata_level})",
            resource=obj.resource_id)
    return obj


# --- schemas and tables ---------------------------------------------------------------

@transaction.atomic
def do_create_schema(actor: Actor, name: str, *, engine: str, access_level: str = PUBLIC, metadata_access_level: str | None = None,
                     **fields: Any) -> Schema:
    owner = _require_publisher(actor)
    validate_identifier(name)
    if Schema.objects.filter(name__iexact=name).exists():
        raise ValidationError(f"A schema called {name!r} exists already.")
    resource = do_create_resource("schema", name, owner)
    schema = Schema(name=name, engine=engine, resource=resource, access_level=access_level,
                    metadata_access_level=metadata_access_level or access_level, **fields)
    schema.full_clean()
    schema.save()
    sync_privileges(schema)
    _record(kinds.SCHEMA_CREATED, actor, f"created schema {name} ({engine})", schema=schema.pk)
    return schema


def ensure_schema(actor: Actor, name: str, engine: str, **fields: Any) -> Schema:
    schema = Schema.objects.filter(name=name).first()
    if schema is None:
        return do_create_schema(actor, name, engine=engine, **fields)
    if schema.engine != engine:
        raise ValidationError(f"Schema {name} is held by {schema.engine}, not {engine}.")
    return schema


def _column_fields(name: str, order: int, arrow_type: pa.DataType | None, meta: ColumnInfo | None) -> dict[str, Any]:
    meta = meta or ColumnInfo(name)
    datatype, arraysize = adql_type(arrow_type) if arrow_type is not None else ("DOUBLE", "")
    return {"name": name, "order": order, "datatype": meta.datatype or datatype, "arraysize": arraysize or meta.arraysize or "",
            "xtype": meta.xtype or "", "unit": meta.unit, "ucd": meta.ucd, "description": meta.description, "utype": meta.utype}


def _checked(fields: dict[str, Any], strict: bool) -> dict[str, Any]:
    """Refuse (strict) or drop (files we do not control) a bad unit or UCD, with the column named."""
    for key, check in (("unit", validate_vounit), ("ucd", validate_ucd)):
        try:
            check(fields.get(key, ""))
        except ValidationError as exc:
            if strict:
                raise ValidationError(f"Column {fields['name']}: {exc.messages[0]}") from None
            fields[key] = ""
    return fields


def guess_position_columns(columns: Iterable[Column]) -> list[str] | None:
    """RA/Dec columns for cone search, from UCDs first, then from usual names."""
    cols = list(columns)
    by_ucd = {c.ucd.split(";")[0]: c.name for c in reversed(cols) if c.ucd and "meta.main" in c.ucd}
    if "pos.eq.ra" in by_ucd and "pos.eq.dec" in by_ucd:
        return [by_ucd["pos.eq.ra"], by_ucd["pos.eq.dec"]]
    names = {c.name.lower(): c.name for c in cols}
    for ra, dec in (("ra", "dec"), ("raj2000", "dej2000"), ("ra_icrs", "de_icrs"), ("objra", "objdec")):
        if ra in names and dec in names:
            return [names[ra], names[dec]]
    return None


@transaction.atomic
def do_create_table(actor: Actor, schema: Schema, name: str, *, columns: Iterable[dict[str, Any]] = (), access_level: str | None = None,
                    metadata_access_level: str | None = None, strict: bool = True, **fields: Any) -> Table:
    """A table's metadata (the data is stored by ingest or already in the engine)."""
    owner = _require_publisher(actor)
    validate_identifier(name)
    level = access_level or schema.access_level
    resource = do_create_resource("table", f"{schema.name}.{name}", owner)
    table = Table(schema=schema, name=name, resource=resource, access_level=level,
                  metadata_access_level=metadata_access_level or level, **fields)
    table.full_clean(exclude=["position_columns"])
    table.save()
    Column.objects.bulk_create([Column(table=table, **_checked(dict(c), strict)) for c in columns])
    bump_metadata_version()  # bulk_create sends no signals
    if table.position_columns is None:
        table.position_columns = guess_position_columns(table.columns.all())
        table.save(update_fields=["position_columns"])
    sync_privileges(table)
    _record(kinds.TABLE_CREATED, actor, f"created table {table.qualified_name}", table=table.pk)
    return table


@transaction.atomic
def do_update_table(actor: Actor, table: Table, **fields: Any) -> Table:
    _require_publisher(actor)
    for key, value in fields.items():
        setattr(table, key, value)
    table.full_clean()
    table.save()
    _record(kinds.TABLE_UPDATED, actor, f"updated {table.qualified_name}", table=table.pk, fields=sorted(fields))
    return table


@transaction.atomic
def do_publish_table(actor: Actor, table: Table, published: bool = True) -> Table:
    """Publish (or unpublish) a table; publishing also publishes its schema. Shows at once in TAP_SCHEMA and VOSI."""
    _require_publisher(actor)
    table.published = published
    if published and table.published_on is None:
        table.published_on = timezone.now().date()
    table.save(update_fields=["published", "published_on", "updated"])
    if published:
        _open_schema_for(table)
    kind = kinds.TABLE_PUBLISHED if published else kinds.TABLE_UNPUBLISHED
    _record(kind, actor, f"{'published' if published else 'unpublished'} {table.qualified_name}", table=table.pk)
    return table


def do_unpublish_table(actor: Actor, table: Table) -> Table:
    return do_publish_table(actor, table, published=False)


@transaction.atomic
def do_withdraw_table(actor: Actor, table: Table, *, withdrawn: bool = True) -> Table:
    """Hide a table from everyone (TAP, TAP_SCHEMA, VOSI, pages), keeping its data and metadata; ``withdrawn=False`` restores it."""
    _require_publisher(actor)
    table.withdrawn = withdrawn
    table.save(update_fields=["withdrawn", "updated"])
    bump_metadata_version()
    kind = kinds.TABLE_WITHDRAWN if withdrawn else kinds.TABLE_RESTORED
    _record(kind, actor, f"{'withdrew' if withdrawn else 'restored'} {table.qualified_name}", table=table.pk)
    return table


def do_restore_table(actor: Actor, table: Table) -> Table:
    return do_withdraw_table(actor, table, withdrawn=False)


def _drop_data(engine: str, schema_name: str, table_name: str) -> None:
    """Remove the stored rows; a table the engine no longer holds counts as removed."""
    try:
        drop_table(engine, schema_name, table_name)
    except EngineError as exc:
        if live_tables(engine, schema_name, table_name):
            raise ValidationError(f"{engine} could not delete {schema_name}.{table_name}: {exc}") from None


@transaction.atomic
def do_delete_table(actor: Actor, table: Table, *, drop_data: bool = True) -> None:
    """Delete a table's metadata and (``drop_data``) its data in the engine, for good: the name is free again.

    The data goes first, inside the transaction: if the engine refuses, the metadata stays and says so.
    ``drop_data=False`` forgets only the description (the data stays in the engine, and discovery finds it again).
    """
    _require_publisher(actor)
    name, engine = table.qualified_name, table.schema.engine
    if drop_data:
        _drop_data(engine, table.schema.name, table.name)
    table.delete()  # its Resource and privileges go too (apps.py)
    _record(kinds.TABLE_DELETED, actor, f"deleted {name}{' and its data' if drop_data else ' (data kept in the engine)'}",
            engine=engine, data_deleted=drop_data)


# --- discovery ---------------------------------------------------------------------------

_MACHINE_FIELDS = ("datatype", "arraysize", "xtype")  # what the database knows better than the publisher
_HUMAN_FIELDS = ("unit", "ucd", "description", "utype")  # filled only where the publisher left them empty


@transaction.atomic
def do_discover_schema(actor: Actor, schema_name: str, *, engine: str, table: str | None = None) -> list[Table]:
    """Create or refresh metadata from the live database: columns, types, indexes, row counts.

    What a publisher wrote (titles, descriptions, units, UCDs) is kept; new
    tables are created private and unpublished; columns the database no
    longer has are removed.
    """
    _require_publisher(actor)
    known = Schema.objects.filter(name=schema_name).exists()
    found = live_tables(engine, schema_name, table)
    if table and not found:
        raise ValidationError(f"{engine} has no table {schema_name}.{table}.")
    if not found and not known:  # a typo must not leave an empty schema behind
        held = engine_schemas(engine)
        listing = f" It holds: {', '.join(held)}." if held else " It holds no schema with tables." if held == [] else ""
        raise ValidationError(f"{engine} has no schema {schema_name!r} with tables.{listing}")
    schema = ensure_schema(actor, schema_name, engine, access_level=PRIVATE)
    result, skipped = [], []
    for live in found:
        info = live.info
        try:
            validate_identifier(info.name)
        except ValidationError:
            skipped.append(info.name)  # not reachable as a regular ADQL name; rename it in the database first
            continue
        existing = Table.objects.filter(schema=schema, name=info.name).first()
        columns = [{"name": c.name, "order": i, "datatype": c.datatype.upper(), "arraysize": c.arraysize or "", "xtype": c.xtype or "",
                    "unit": c.unit, "ucd": c.ucd, "description": c.description, "utype": c.utype, "indexed": c.indexed,
                    "principal": c.principal} for i, c in enumerate(info.columns)]
        sky = storage_sky_fields(info.sky)
        if existing is None:
            t = do_create_table(actor, schema, info.name, columns=columns, strict=False, description=info.description,
                                row_count=live.row_count, size_bytes=live.size_bytes, **sky)
        else:
            t = _refresh_table(existing, columns, live.row_count, live.size_bytes, info.description)
            set_storage_sky(t, sky)
        result.append(t)
    if table and skipped:
        raise ValidationError(f"{table!r} is not a name ADQL can use: rename it in the database (letters, digits, underscores).")
    _record(kinds.DISCOVERED, actor, f"discovered {len(result)} table(s) in {engine} {schema_name}", schema=schema.pk,
            tables=[t.name for t in result], skipped=skipped)
    return result


def storage_sky_fields(sky: SkyIndex | None) -> dict[str, Any]:
    """What the storage says of a table's sky (a HATS catalogue: positions, _healpix_29, its partition orders)."""
    if sky is None or not sky.partition_orders:
        return {}
    fields: dict[str, Any] = {"position_columns": [sky.ra, sky.dec], "partition_orders": list(sky.partition_orders)}
    if sky.column:
        fields.update(healpix_column=sky.column, healpix_order=sky.order, healpix_shift=sky.shift)
    return fields


def set_storage_sky(table: Table, fields: dict[str, Any]) -> None:
    """Record how the data is stored now; a table that is no longer HATS loses its partitions and _healpix_29."""
    if not fields:
        if not table.partition_orders and table.healpix_column != HATS_INDEX_COLUMN:
            return
        fields = {"partition_orders": []}
        if table.healpix_column == HATS_INDEX_COLUMN:
            fields.update(healpix_column="", healpix_order=29, healpix_shift=0)
    if table.position_columns and "position_columns" in fields:
        fields = {k: v for k, v in fields.items() if k != "position_columns"}  # the publisher's choice stays
    for key, value in fields.items():
        setattr(table, key, value)
    table.save(update_fields=[*fields, "updated"])


def _refresh_table(table: Table, columns: list[dict[str, Any]], rows: int | None, size: int | None, description: str) -> Table:
    have = {c.name: c for c in table.columns.all()}
    next_order = max((c.order for c in have.values()), default=-1) + 1
    for fields in columns:
        col = have.pop(fields["name"], None)
        if col is None:
            Column.objects.create(table=table, **_checked({**fields, "order": next_order}, strict=False))
            next_order += 1
            continue
        for key in _MACHINE_FIELDS:
            setattr(col, key, fields[key])
        col.indexed = fields["indexed"]
        for key in _HUMAN_FIELDS:
            if not getattr(col, key) and fields.get(key):
                setattr(col, key, _checked(dict(fields), strict=False)[key])
        col.save()
    Column.objects.filter(pk__in=[c.pk for c in have.values()]).delete()  # gone from the database
    table.row_count, table.size_bytes = rows, size if size is not None else table.size_bytes
    table.description = table.description or description
    table.data_updated_on = timezone.now().date()
    table.save()
    return table


# --- ingest ---------------------------------------------------------------------------------

IngestProgress = Callable[[int, int | None], None]


LAYOUTS = (AUTO, PLAIN, HATS) = ("auto", "plain", "hats")


def do_ingest_file(actor: Actor, path: Path, *, schema: str, table: str, engine: str, fmt: str | None = None, replace: bool = False,
                   chunk_rows: int = 100_000, progress: IngestProgress | None = None, bad_cells: str = REJECT,
                   report: dict[str, Any] | None = None, layout: str = AUTO, hats: dict[str, Any] | None = None,
                   **table_fields: Any) -> Table:
    """Load a FITS, VOTable, CSV or Parquet file into ``engine`` as ``schema.table`` and describe it.

    The data is stored first (atomically, by the engine); if describing it then
    fails, the new table is dropped again, so a failed ingest leaves nothing.
    CSV cells that do not fit their column refuse the file (line and column
    named), or with ``bad_cells="null"`` load as NULL and are listed in ``report``
    and the activity log. A failure is recorded in the activity log too.

    ``layout``: ``hats`` stores a table with positions on DuckDB/Spark as HEALPix
    partitions (workers/engines/hats.py; ``hats`` holds HatsSettings values such as
    ``pixel_threshold``); ``auto`` does so from INGEST_HATS_MIN_ROWS rows; ``plain``
    is one Parquet file.
    """
    _require_publisher(actor)
    try:
        return _ingest(actor, Path(path), schema, table, engine, fmt, replace, chunk_rows, progress, bad_cells,
                       report if report is not None else {}, table_fields, layout, hats or {})
    except (ValidationError, ValueError, OSError) as exc:
        message = "; ".join(getattr(exc, "messages", None) or [str(exc) or type(exc).__name__])
        cells = [vars(c) for c in exc.cells] if isinstance(exc, BadCellsError) else []
        _record_failure(actor, f"ingest of {Path(path).name} into {engine} {schema}.{table} failed: {message}", engine=engine,
                        target=f"{schema}.{table}", reason=message, bad_cells=cells)
        raise ValidationError(message) from exc


def _record_failure(actor: Actor, summary: str, **details: Any) -> None:
    _record(kinds.INGEST_FAILED, actor, summary, **details)  # ingest runs outside any transaction: the record stays


def _check_target(schema: str, table: str, engine: str, replace: bool) -> Table | None:
    validate_identifier(schema)
    validate_identifier(table)
    existing = Table.objects.filter(schema__name=schema, name=table).first()
    if existing and not replace:
        raise ValidationError(f"{schema}.{table} is published already; choose another name or replace it.")
    held_by = Schema.objects.filter(name=schema).values_list("engine", flat=True).first()
    if held_by and held_by != engine:
        raise ValidationError(f"Schema {schema} is held by {held_by}, not {engine}.")
    if existing is None and not replace and live_tables(engine, schema, table):
        raise ValidationError(f"{engine} already holds data called {schema}.{table} that no table describes (left by an earlier "
                              "deletion that kept the data?): replace it, or discover it to describe it.")
    return existing


def _ingest(actor: Actor, path: Path, schema: str, table: str, engine: str, fmt: str | None, replace: bool, chunk_rows: int,
            progress: IngestProgress | None, bad_cells: str, report: dict[str, Any], table_fields: dict[str, Any],
            layout: str, hats: dict[str, Any]) -> Table:
    _check_layout(layout, engine)
    existing = _check_target(schema, table, engine, replace)
    cat = open_catalogue(path, fmt, chunk_rows, bad_cells)
    total = cat.total_rows
    if cat.bad_cell_count:
        report.update(count=cat.bad_cell_count, cells=[vars(c) for c in cat.bad_cells])
    columns = [_column_fields(f.name, i, f.type, cat.fields.get(f.name)) for i, f in enumerate(cat.schema)]
    positions = table_fields.get("position_columns") or guess_position_columns(Column(**c) for c in columns)
    sky: dict[str, Any] = {}
    try:
        if _use_hats(layout, engine, total, positions) and positions:
            sky = _store_hats(engine, schema, table, cat, positions, replace, progress, hats)
            rows = sky.pop("rows")
            columns = [c for c in columns if c["name"] not in HIDDEN_COLUMNS]
        else:
            rows = store_table(engine, schema, table, cat.batches, cat.schema, replace=replace,
                               progress=(lambda done: progress(done, total)) if progress else None)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # the engine stored nothing
        raise ValidationError(f"{path.name} could not be read: {str(exc).splitlines()[0]}") from exc
    try:
        with transaction.atomic():
            size = table_bytes(engine, schema, table)
            if existing:  # new data, same description: keep what the publisher wrote, fill what the file adds
                t = _refresh_table(existing, [{**c, "indexed": False} for c in columns], rows, size, cat.description)
                set_storage_sky(t, sky)
            else:
                s = ensure_schema(actor, schema, engine, access_level=PRIVATE)
                fields = {"description": cat.description, "row_count": rows, "size_bytes": size, "data_updated_on": datetime.date.today(),
                          **sky, **table_fields}
                t = do_create_table(actor, s, table, columns=columns, strict=False, **fields)
            loaded_null = f"; {cat.bad_cell_count} bad cell(s) loaded as NULL" if cat.bad_cell_count else ""
            _record(kinds.INGESTED, actor, f"ingested {path.name} into {engine} {schema}.{table} ({rows} rows{loaded_null})",
                    table=t.pk, rows=rows, engine=engine, bad_cells=report)
    except BaseException:
        if not replace:
            drop_table(engine, schema, table)
        raise
    return t


def _check_layout(layout: str, engine: str) -> None:
    if layout not in LAYOUTS:
        raise ValidationError(f"Unknown layout {layout!r}: use {', '.join(LAYOUTS)}.")
    if layout == HATS and engine not in PARQUET_ENGINES:
        raise ValidationError(f"The HATS layout is for the Parquet engines ({', '.join(PARQUET_ENGINES)}), not {engine}.")


def _use_hats(layout: str, engine: str, total: int | None, positions: list[str] | None) -> bool:
    """HEALPix partitions when asked, or (``auto``) for big tables with positions on the Parquet engines."""
    _check_layout(layout, engine)
    if layout == HATS:
        if not positions:
            raise ValidationError("The HATS layout needs position columns (RA/Dec): name them, or give them UCDs or usual names.")
        return True
    threshold = int(settings.INGEST_HATS_MIN_ROWS)
    return layout == AUTO and engine in PARQUET_ENGINES and bool(positions) and total is not None and total >= threshold


def _store_hats(engine: str, schema: str, table: str, cat: Any, positions: list[str], replace: bool,
                progress: IngestProgress | None, hats: dict[str, Any]) -> dict[str, Any]:
    """Write the rows as a HATS catalogue in the shared Parquet storage; returns rows and the table's sky fields."""
    try:
        options = HatsSettings(**hats)
    except TypeError as exc:
        raise ValidationError(f"Unknown HATS setting: {exc}") from None
    store = ParquetStore(settings.SCIENCE_DIR, settings.MYDB_DIR)
    try:
        info = store.ingest_hats(TableName(schema, table), iter(cat.batches), cat.schema, ra=positions[0], dec=positions[1],
                                 settings=options, progress=progress_in_rows(progress, cat.total_rows) if progress else None,
                                 replace=replace)
    except EngineError as exc:
        raise ValidationError(str(exc)) from None
    return {"rows": info.rows, **storage_sky_fields(info.sky_index())}


# --- VOTable metadata ----------------------------------------------------------------------------

@transaction.atomic
def do_import_metadata(actor: Actor, table: Table, votable: Any, *, overwrite: bool = False) -> int:
    """Read a VOTable sidecar (what metadata_votable exports) into ``table``; return the columns changed.

    FIELD units, UCDs, descriptions and utypes, the table's description and its
    INFOs (title, citation, DOI, licence, creators, dates, position and principal
    columns) fill what is empty, or replace it with ``overwrite``. Bad values are
    refused with the column or field named.
    """
    _require_publisher(actor)
    fields, description, infos = read_votable_sidecar(votable)
    by_name = {k.lower(): v for k, v in fields.items()}
    changed = 0
    for col in table.columns.all():
        meta = by_name.get(col.name.lower())
        if meta is None:
            continue
        for key in _HUMAN_FIELDS:
            value = getattr(meta, key)
            if value and (overwrite or not getattr(col, key)):
                setattr(col, key, value)
        try:
            col.full_clean(exclude=["table"])
        except ValidationError as exc:
            raise ValidationError(f"Column {col.name}: {'; '.join(exc.messages)}") from None
        col.save()
        changed += 1
    _import_table_fields(table, {"description": description, **parse_infos(infos)}, overwrite)
    _record(kinds.METADATA_IMPORTED, actor, f"imported metadata of {changed} column(s) into {table.qualified_name}", table=table.pk)
    return changed


def _import_table_fields(table: Table, values: dict[str, Any], overwrite: bool) -> None:
    principal = values.pop("principal_columns", None)
    for key, value in values.items():
        if value and (overwrite or not getattr(table, key)):
            setattr(table, key, value)
    try:
        table.full_clean()
    except ValidationError as exc:
        raise ValidationError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
    table.save()
    if principal and (overwrite or not table.columns.filter(principal=True).exists()):
        table.columns.update(principal=False)
        table.columns.filter(name__in=principal).update(principal=True)


# --- demo and benchmark catalogues ------------------------------------------------------------------

def demo_schema_name(schema: str, engine: str) -> str:
    """Schema names are unique across engines: copies outside the default engine get the engine's name."""
    return schema if engine == "duckdb" else f"{schema}_{engine}"


def do_generate_catalogue(actor: Actor, table_key: str, *, rows: int, seed: int = 42, engine: str = "duckdb",
                          progress: IngestProgress | None = None, schema_name: str | None = None,
                          writer: Callable[[str, str], int] | None = None) -> Table:
    """Generate a demo catalogue (fixtures/generator.py), store it in ``engine`` and publish it with its fixture metadata.

    Re-running replaces the data and keeps whatever a publisher has edited. ``schema_name`` replaces the
    demo's schema (the scale generator names one per size); ``writer(schema, table)``, when given, stores
    the rows itself (sorted or HATS files, apps/metadata/generate.py) and returns how many it wrote.
    """
    from fixtures.generator import arrow_schema, generate, metadata

    _require_publisher(actor)
    meta = metadata(table_key)
    schema_name = schema_name or demo_schema_name(meta["schema"]["name"], engine)
    table_name = meta["table"]["name"]
    if writer is not None:
        stored = writer(schema_name, table_name)
    else:
        stored = store_table(engine, schema_name, table_name, generate(table_key, rows, seed), arrow_schema(table_key),
                             replace=True, progress=(lambda done: progress(done, rows)) if progress else None)
    with transaction.atomic():
        schema_fields = {k: v for k, v in meta["schema"].items() if k != "name"}
        schema = ensure_schema(actor, schema_name, engine, access_level=PUBLIC, published=True, **schema_fields)
        types = {f.name: f.type for f in arrow_schema(table_key)}
        columns = [{**_column_fields(c["name"], i, types[c["name"]], None), **{k: v for k, v in c.items() if k != "name"}}
                   for i, c in enumerate(meta["columns"])]
        table = Table.objects.filter(schema=schema, name=table_name).first()
        fields = {k: v for k, v in meta["table"].items() if k != "name"}
        if table is None:
            table = do_create_table(actor, schema, table_name, columns=columns, access_level=PUBLIC, row_count=stored,
                                    size_bytes=table_bytes(engine, schema_name, table_name), data_updated_on=datetime.date.today(), **fields)
        else:
            _refresh_table(table, [{**c, "indexed": c.get("indexed", False)} for c in columns], stored,
                           table_bytes(engine, schema_name, table_name), fields.get("description", ""))
        if not table.published:
            do_publish_table(actor, table)
    return table


@transaction.atomic
def do_save_function(actor: Actor, name: str, *, return_type: str, sql: dict[str, str], signature: str = "", description: str = "",
                     published: bool = True) -> Function:
    """Create or update a user-defined ADQL function (``sql`` maps each engine's dialect to a template)."""
    _require_publisher(actor)
    validate_identifier(name)
    function, _ = Function.objects.update_or_create(name=name, defaults={
        "return_type": return_type, "sql": sql, "signature": signature, "description": description, "published": published})
    _record(kinds.TABLE_UPDATED, actor, f"saved function {name}")
    return function


GAIA_HEALPIX: dict[str, Any] = {
    "name": "gaia_healpix_index", "return_type": "BIGINT", "signature": "gaia_healpix_index(level INTEGER, source_id BIGINT)",
    "description": "The HEALPix index (nested scheme) at level 0-12 of a Gaia source, from its source_id.",
    "sql": {d: "({1} >> (35 + 2 * (12 - {0})))" for d in ("duckdb", "postgresql", "mariadb")} | {"spark": "shiftright({1}, 35 + 2 * (12 - {0}))"},
}


# --- ingest in the background (admin console) -------------------------------------------------------

def set_ingest_progress(job_id: str, **state: Any) -> None:
    IngestRun.objects.filter(pk=job_id).update(**state, updated=timezone.now())


def do_start_ingest(actor: User, path: Path, *, remove_after: bool = False, publish: str = "", **options: Any) -> str:
    """Queue an ingest for a Celery worker (big files do not fit in a web request); returns the job id to follow."""
    import uuid

    _require_publisher(actor)
    run = IngestRun.objects.create(id=uuid.uuid4().hex, user=actor, name=Path(path).name, target=f"{options['schema']}.{options['table']}")
    job_id = run.pk

    def queue() -> None:
        send_task("metadata.ingest_file", job_id, actor.pk, str(path), remove_after, publish, options)

    transaction.on_commit(queue)
    return job_id


def run_ingest_job(job_id: str, user_id: int, path: str, remove_after: bool, publish: str, options: dict[str, Any]) -> None:
    """The worker's side of do_start_ingest: ingest, optionally publish, report progress and the outcome."""
    import shutil

    user = User.objects.get(pk=user_id)
    report: dict[str, Any] = {}

    def progress(done: int, total: int | None) -> None:
        set_ingest_progress(job_id, state=IngestRun.RUNNING, done=done, total=total)

    try:
        set_ingest_progress(job_id, state=IngestRun.RUNNING)
        table = do_ingest_file(user, Path(path), progress=progress, report=report, **options)
        if publish:
            do_set_access_level(user, table, publish)
            do_publish_table(user, table)
    except Exception as exc:  # any failure is the publisher's to read, on the status page and in the activity log
        message = "; ".join(getattr(exc, "messages", None) or [str(exc) or type(exc).__name__])
        set_ingest_progress(job_id, message=message, state=IngestRun.FAILED, done=0, report=report)
    else:
        set_ingest_progress(job_id, table=table, state=IngestRun.DONE, done=table.row_count or 0, total=table.row_count, report=report)
    finally:
        if remove_after:
            shutil.rmtree(Path(path).parent, ignore_errors=True)
