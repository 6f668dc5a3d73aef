"""Native SQL queries: checked to be one read-only SELECT over catalog tables.

The database role the query runs under is read-only too; this check is the
first line, so that a user gets a clear message rather than a permission
error, and so that tables outside the catalog are never read.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from .catalog import Catalog, ColumnInfo, TableInfo
from .errors import AdqlError
from .translate import Translation, _out_from_info

SQLGLOT_DIALECTS = {"postgresql": "postgres", "mariadb": "mysql", "duckdb": "duckdb",
                    "spark": "spark"}

# Functions that write, sleep, read files or reach other servers.
FORBIDDEN_FUNCTIONS = frozenset("""
pg_sleep pg_sleep_for pg_sleep_until pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file
lo_import lo_export lo_get lo_put lo_from_bytea dblink dblink_exec set_config nextval setval
pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile txid_current
pg_advisory_lock pg_advisory_xact_lock copy query_to_xml
sleep benchmark load_file get_lock release_lock
read_csv read_csv_auto read_parquet read_json read_json_auto read_text read_blob glob
parquet_scan sniff_csv getenv current_setting
reflect java_method try_reflect input_file_name input_file_block_start input_file_block_length
query query_table which_secret table_to_xml table_to_xmlschema table_to_xml_and_xmlschema
cursor_to_xml cursor_to_xmlschema schema_to_xml database_to_xml ts_stat ts_rewrite
""".split())
# Whole families: DuckDB's file readers and catalog functions (read_ndjson_objects, parquet_metadata,
# duckdb_settings ...), PostgreSQL's pg_* (pg_stat_get_activity shows the queries of every user, who share
# one database role) and *_to_xml* (and ts_stat/ts_rewrite above), which read a table named by
# a string or run SQL text, past the catalog check.
FORBIDDEN_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_", "pg_", "lo_", "dblink")
FORBIDDEN_PARTS = ("_to_xml",)
# Functions allowed as a LATERAL row source: they only make rows from values. Others there are table
# functions that read by name or path (DuckDB: histogram('schema.table', ...), summary, pragma_table_info,
# json_execute_serialized_sql, arrow_scan of a memory address ...).
LATERAL_FUNCTIONS = frozenset("""
unnest generate_series exploding_generate_series range explode explode_outer posexplode posexplode_outer
inline inline_outer stack json_tuple json_each json_tree jsonb_each json_each_text jsonb_each_text
json_array_elements jsonb_array_elements json_array_elements_text jsonb_array_elements_text
generate_subscripts regexp_split_to_table string_to_table
""".split())


def _parse(sql: str, dialect: str) -> exp.Expr:
    read = SQLGLOT_DIALECTS.get(dialect)
    if read is None:
        raise AdqlError(f"unknown SQL dialect {dialect!r}")
    try:
        statements = [s for s in sqlglot.parse(sql, read=read) if s is not None]
    except SqlglotError as e:
        errs = getattr(e, "errors", None) or [{}]
        first = errs[0]
        raise AdqlError(f"SQL syntax error: {first.get('description') or e}",
                        first.get("line"), first.get("col")) from None
    if len(statements) != 1:
        raise AdqlError("exactly one query is allowed")
    return statements[0]


def _check_read_only(tree: exp.Expr) -> None:
    if not isinstance(tree, exp.Query):
        raise AdqlError("only SELECT (or WITH ... SELECT) queries are allowed")
    for node in tree.walk():
        if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop,
                             exp.Command, exp.Into, exp.Lock, exp.Merge, exp.Alter)):
            raise AdqlError("the query must only read data")
        if isinstance(node, exp.Lateral) and isinstance(node.this, exp.Func):
            source = node.this
            name = (source.name if isinstance(source, exp.Anonymous) else source.sql_name()).lower()
            if name not in LATERAL_FUNCTIONS:
                raise AdqlError(f"the table function {name} is not allowed")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_PREFIXES) or any(p in name for p in FORBIDDEN_PARTS):
                raise AdqlError(f"the function {name} is not allowed")


def _cte_name(cte: exp.CTE) -> str:
    alias = cte.args.get("alias")
    ident = alias.this if isinstance(alias, exp.TableAlias) else None
    quoted = isinstance(ident, exp.Identifier) and bool(ident.args.get("quoted"))
    return cte.alias_or_name if quoted else cte.alias_or_name.lower()


def _names_cte(t: exp.Table) -> bool:
    """Whether ``t`` (unqualified) names a WITH query in scope where it stands.

    A CTE is seen by its own query and by the CTEs after it in the same WITH
    (and by itself when the WITH is RECURSIVE), nowhere else: a name defined
    in a subquery does not hide a table of the same name outside it. Names
    compare as PostgreSQL folds them (unquoted ones to lower case, quoted ones
    exactly); where an engine would fold more, the table is checked anyway.
    """
    if t.args.get("db") or t.args.get("catalog"):
        return False
    quoted = bool(t.this.args.get("quoted"))
    wanted = t.name if quoted else t.name.lower()
    node: exp.Expr = t
    while node.parent is not None:
        parent = node.parent
        if isinstance(parent, exp.With):  # inside the body of one CTE of this WITH
            ctes = list(parent.expressions)
            index = next((i for i, c in enumerate(ctes) if c is node), len(ctes))
            visible = ctes[:index + 1] if parent.args.get("recursive") else ctes[:index]
            if wanted in {_cte_name(c) for c in visible}:
                return True
            node = parent.parent if parent.parent is not None else parent  # skip the query owning this WITH
            if node is parent:
                return False
            continue
        with_ = parent.args.get("with_") if isinstance(parent, exp.Query) else None
        if isinstance(with_, exp.With) and node is not with_:
            if wanted in {_cte_name(c) for c in with_.expressions}:
                return True
        node = parent
    return False


def _tables(tree: exp.Expr, catalog: Catalog, read: str) -> list[TableInfo]:
    found: list[TableInfo] = []
    for t in list(tree.find_all(exp.Table)):
        if not isinstance(t.this, exp.Identifier):
            raise AdqlError(f"{t.sql(dialect=read)} is not a published table")  # ROWS FROM (...), a function
        if _names_cte(t):
            continue
        quoted = bool(t.this.args.get("quoted"))
        matches = catalog.find_tables(t.db or None, t.name, quoted)
        if len(matches) != 1:
            written = f"{t.db}.{t.name}" if t.db else t.name
            raise AdqlError(f"unknown table '{written}'" if not matches else
                            f"table name {written} is ambiguous; add the schema")
        if matches[0] not in found:
            found.append(matches[0])
        _substitute(t, matches[0], read)
    return found


def _substitute(t: exp.Table, info: TableInfo, read: str) -> None:
    """Read a table through its trusted FROM fragment (a Parquet file, a MyDB schema) or its published
    name, and only the columns the catalog shows this user: a column can be narrower than its table
    (e.g. internal only), and native SQL names columns the catalog never checks."""
    if not info.columns:
        raise AdqlError(f"no column of {info.schema}.{info.name} may be read")
    quoted = [exp.to_identifier(c.name, quoted=True).sql(dialect=read) for c in info.columns]
    source = info.sql_from or ".".join(exp.to_identifier(n, quoted=True).sql(dialect=read) for n in (info.schema, info.name))
    select = sqlglot.parse_one(f"SELECT {', '.join(quoted)} FROM {source}", read=read)
    alias = t.args.get("alias") or exp.TableAlias(this=t.this.copy())
    t.replace(exp.Subquery(this=select, alias=alias, sample=t.args.get("sample"), pivots=t.args.get("pivots")))


def _apply_limit(tree: exp.Query, maxrec: int | None) -> tuple[exp.Query, int | None]:
    existing = tree.args.get("limit")
    current = None
    if existing is not None:
        value = existing.expression
        if isinstance(value, exp.Literal) and value.is_int:
            current = int(value.this)
        else:
            raise AdqlError("LIMIT must be a plain number")
    if maxrec is None:
        return tree, current
    limit = maxrec + 1 if current is None else min(current, maxrec + 1)
    return tree.limit(limit, copy=False), limit


def _columns(tree: exp.Query, tables: list[TableInfo]) -> list[ColumnInfo]:
    cols: list[ColumnInfo] = []
    by_name = {c.name.lower(): c for t in tables for c in t.columns}
    for sel in tree.selects:
        if isinstance(sel, exp.Star):
            cols += [_out_from_info(c.name, c) for t in tables for c in t.columns]
            continue
        name = sel.alias_or_name
        info = by_name.get(sel.name.lower()) if isinstance(sel, exp.Column) else None
        cols.append(_out_from_info(name, info) if info else ColumnInfo(name, "UNKNOWN"))
    return cols


def translate_native(sql: str, dialect: str, *, catalog: Catalog,
                     maxrec: int | None = None) -> Translation:
    """Check a native query (read-only, catalog tables only) and bound it."""
    if maxrec is not None and maxrec < 0:
        raise AdqlError("MAXREC cannot be negative")
    parsed = _parse(sql, dialect)
    _check_read_only(parsed)
    assert isinstance(parsed, exp.Query)
    tables = _tables(parsed, catalog, SQLGLOT_DIALECTS[dialect])
    tree, limit = _apply_limit(parsed, maxrec)
    # Without comments: MariaDB runs /*! ... */ and /*M! ... */ as code, so nothing of the user's may ride along in one.
    out = tree.sql(dialect=SQLGLOT_DIALECTS[dialect], comments=False)
    return Translation(out, _columns(tree, tables), [(t.schema, t.name) for t in tables], [], limit)
