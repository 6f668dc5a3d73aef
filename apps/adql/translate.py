"""Validate an ADQL syntax tree against a Catalog and emit engine SQL.

One recursive walk does both: each SELECT first turns its FROM clause into
sources (tables, WITH queries, subqueries, each with the columns it shows),
then resolves every column reference against them, then emits SQL. What type an
expression has is inference.py's; what differs between engines, dialects.py's. Every
identifier and literal in the output is quoted here; nothing of the query
text reaches the SQL except through these quoting functions.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import ast as A
from . import crossmatch as X
from . import pruning
from . import semantics as S
from .catalog import Catalog, ColumnInfo, PartitionedSource, SkyIndex, TableInfo
from .dialects import Dialect, get_dialect
from .errors import AdqlError
from .geometry import GBox, GCircle, Geo, GNative, GPoint, GPolygon, PgSphere, geo_type, geometry_for
from .inference import Col, TypeInference
from .parser import parse
from .stcs import Compound, Region, Shape, frames, parse_region
from .udfs import UDFS, builtin, emit_point
from .udfs import emit as emit_udf
from .units import unit_factor

MAX_SQL_CHARS = 200_000  # of one emitted expression
GEOMETRY_TYPES = frozenset({"POINT", "CIRCLE", "POLYGON", "BOX", "REGION"})



@dataclass
class Translation:
    sql: str
    columns: list[ColumnInfo]
    tables: list[tuple[str, str]]
    warnings: list[str] = field(default_factory=list)
    limit: int | None = None


@dataclass
class Source:
    alias: str  # lookup key of the exposed name (alias or table name)
    alias_delimited: bool
    schema: str | None  # for schema.table qualifiers on unaliased tables
    sql_alias: str
    cols: list[Col] | None  # None: unknown (no catalog)
    hidden: set[str] = field(default_factory=set)  # USING/NATURAL duplicates for *
    join_keys: set[str] = field(default_factory=set)
    display: str = ""  # how error messages name it: gaia.source, or the alias
    sky: SkyIndex | None = None  # a catalogue table's positions and HEALPix layout (pruning.py)

    _named: tuple[int, dict[str, list[Col]]] = field(default=(-1, {}), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.display = self.display or self.alias

    def columns_named(self, ident: A.Ident) -> list[Col]:
        """The columns ``ident`` names (ADQL case rules), by a lookup in place of a scan of every column."""
        if self.cols is None:
            return []
        if self._named[0] != len(self.cols):  # made once (again if columns were added since)
            index: dict[str, list[Col]] = {}
            for c in self.cols:
                index.setdefault(c.name.lower(), []).append(c)
            self._named = (len(self.cols), index)
        return [c for c in self._named[1].get(ident.name.lower(), ()) if _col_matches(c, ident)]


CteMap = dict[str, tuple[str, "list[Col] | None"]]  # key -> (engine name, columns)


@dataclass
class Scope:
    sources: list[Source]
    parent: Scope | None  # the enclosing query, for correlated subqueries
    ctes: CteMap
    outputs: list[Col] = field(default_factory=list)
    # HATS tables of this FROM, by SQL alias: (placeholder in the FROM, whole table's fragment, its files)
    partitioned: dict[str, tuple[str, str, PartitionedSource]] = field(default_factory=dict)
    confined: dict[str, list[pruning.Cover]] = field(default_factory=dict)  # sky cells every row must lie in
    # Partition predicates of confined tables, by placeholder in the WHERE: files_read drops the ones whose
    # table it reads from the cells' files only (they hold for every row of those files).
    file_tests: dict[str, tuple[str, str]] = field(default_factory=dict)  # placeholder -> (alias, predicate)


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name.lower(), [c.lower() for c in candidates], n=1, cutoff=0.6)
    if not close:
        return ""
    original = next(c for c in candidates if c.lower() == close[0])
    return f"; did you mean {original}?"


def _col_matches(col: Col, ident: A.Ident) -> bool:
    return col.name == ident.name if ident.delimited else col.name.lower() == ident.name.lower()


def _out_from_info(name: str, info: ColumnInfo) -> ColumnInfo:
    datatype = info.datatype.upper()
    # A VOTable-style description (double[2] with xtype point) is an ADQL POINT.
    if (info.xtype or "").upper() in ("POINT", "CIRCLE", "POLYGON"):
        datatype = (info.xtype or "").upper()
    return ColumnInfo(name, datatype, info.arraysize, info.xtype, info.unit,
                        info.ucd, info.description, info.utype)


class Translator:
    def __init__(self, dialect: str, catalog: Catalog | None) -> None:
        self.d: Dialect = get_dialect(dialect)
        self.geo = geometry_for(self.d)
        self.types = TypeInference(catalog)
        self.catalog = catalog
        self.tables: list[tuple[str, str]] = []
        self.warnings: list[str] = []
        self.depth = 0  # > 0 inside WITH, FROM or WHERE subqueries
        self.crossmatches: dict[int, X.CrossMatch] = {}  # planned neighbour joins (crossmatch.py)
        self.negated = False  # under an odd number of NOTs: no pruning (see pruned)
        self.conjuncts: set[int] = set()  # the comparisons every row of the current WHERE must pass

    @contextmanager
    def inner(self) -> Iterator[None]:
        """Translate a subquery: its geometries stay engine-native, not DALI output."""
        self.depth += 1
        negated, self.negated = self.negated, False  # a subquery's WHERE filters rows anew
        try:
            yield
        finally:
            self.depth -= 1
            self.negated = negated

    @contextmanager
    def negation(self) -> Iterator[None]:
        self.negated = not self.negated
        try:
            yield
        finally:
            self.negated = not self.negated

    def geometry_value(self, g: Geo) -> str:
        """A selected geometry: DALI arrays in the result; pg_sphere values inside."""
        if self.depth and isinstance(self.geo, PgSphere):
            return self.geo.native(g)
        return self.geo.output(g)

    # ---- names ----------------------------------------------------------

    def name_of(self, ident: A.Ident) -> str:
        """The engine spelling of an identifier not found in the catalog."""
        if ident.delimited or not self.d.lower_unquoted:
            return ident.name
        return ident.name.lower()

    def q(self, name: str) -> str:
        return self.d.ident(name)

    # ---- queries --------------------------------------------------------

    def top_query(self, q: A.Query, maxrec: int | None) -> Translation:
        q = _unwrap(q)
        limit = None
        top = q.body.top if isinstance(q.body, A.Select) else None
        if maxrec is not None:
            limit = maxrec + 1 if top is None else min(top, maxrec + 1)
        sql, cols = self.query(q, None, {}, limit_override=limit)
        if limit is None:
            limit = top
        columns = [c.out for c in cols] if cols is not None else []
        return Translation(sql, columns, self.tables, self.warnings, limit)

    def query(self, q: A.Query, parent: Scope | None, ctes: CteMap,
              limit_override: int | None = None) -> tuple[str, list[Col] | None]:
        """A select expression; ``parent`` is the scope a correlated subquery sees."""
        q = _unwrap(q)
        ctes = dict(ctes)
        parts = []
        defined: set[str] = set()
        for name, sub in q.ctes:
            if name.key in defined:
                raise AdqlError(f"the WITH query {name.name} is defined twice", name.line, name.col)
            defined.add(name.key)
            with self.inner():
                sub_sql, sub_cols = self.query(sub, None, ctes)
            emitted = self.name_of(name)
            ctes[name.key] = (emitted, sub_cols)
            parts.append(f"{self.q(emitted)} AS ({sub_sql})")
        with_sql = ("WITH " + ", ".join(parts) + " ") if parts else ""
        if isinstance(q.body, A.Select):
            limit = limit_override if limit_override is not None else q.body.top
            body, cols, sel_scope = self.select(q.body, parent, ctes)
            order = self.order_by(q.order_by, sel_scope, cols, in_select=True)
            return with_sql + body + order + self.d.limit(limit, q.offset), cols
        body_sql, cols = self.body(q.body, parent, ctes)
        out_scope = Scope([], parent, ctes, cols or [])
        order = self.order_by(q.order_by, out_scope, cols)
        return with_sql + body_sql + order + self.d.limit(limit_override, q.offset), cols

    def body(self, b: A.QueryBody, parent: Scope | None, ctes: CteMap
             ) -> tuple[str, list[Col] | None]:
        if isinstance(b, A.Select):
            sql, cols, _ = self.select(b, parent, ctes)
            return sql + self.d.limit(b.top, None), cols
        if isinstance(b, A.Query):
            sql, cols = self.query(b, parent, ctes)
            return f"({sql})", cols
        left, lcols = self.body(b.left, parent, ctes)
        right, rcols = self.body(b.right, parent, ctes)
        if lcols is not None and rcols is not None and len(lcols) != len(rcols):
            raise AdqlError(f"the two sides of {b.op} select different numbers of columns "
                            f"({len(lcols)} and {len(rcols)})", b.line, b.col)
        op = b.op + (" ALL" if b.all else "")
        return f"({left}) {op} ({right})", lcols

    def order_by(self, items: list[A.OrderItem], scope: Scope, cols: list[Col] | None,
                 in_select: bool = False) -> str:
        """``in_select``: the keys may name the SELECT's own aggregates (not a UNION's columns)."""
        if not items:
            return ""
        out = []
        for it in items:
            e = it.expr
            if isinstance(e, A.Literal) and e.kind == "int":
                n = int(e.value)
                if cols is not None and not 1 <= n <= len(cols):
                    raise AdqlError(f"ORDER BY {n}: there are only {len(cols)} selected columns",
                                    e.line, e.col)
                # The column's name, so that the NULL rule below can test it.
                col = cols[n - 1] if cols is not None else None
                sql = self.order_output(col, in_select) if col is not None else str(n)
            else:
                col = self.output_col(e, scope)
                sql = self.order_output(col, in_select) if col is not None else self.expr(e, scope)
            out.append(self.d.order_item(sql, it.desc))
        return " ORDER BY " + ", ".join(out)

    def order_output(self, col: Col, in_select: bool) -> str:
        aggregate = col.aggregate_sql if in_select else None
        return self.d.order_by_output(self.q(col.name), aggregate)

    def output_col(self, e: A.Expr, scope: Scope) -> Col | None:
        """The selected column an unqualified name in ORDER/GROUP BY names, if any."""
        if isinstance(e, A.ColumnRef) and len(e.parts) == 1:
            for c in scope.outputs:
                if _col_matches(c, e.parts[0]):
                    return c
        return None

    def output_alias(self, e: A.Expr, scope: Scope) -> str | None:
        col = self.output_col(e, scope)
        return self.q(col.name) if col is not None else None

    # ---- SELECT ---------------------------------------------------------

    def select(self, s: A.Select, parent: Scope | None, ctes: CteMap
               ) -> tuple[str, list[Col] | None, Scope]:
        scope = Scope([], parent, ctes)
        self.crossmatches.update(X.plan(s, self.d, self.catalog, ctes))
        from_sql = ", ".join(self.table_ref(t, scope) for t in s.from_)
        items_sql, cols = self.select_list(s.items, scope)
        scope.outputs = cols or []
        sql = "SELECT " + ("DISTINCT " if s.quantifier == "DISTINCT" else "") + items_sql
        where_sql = self.where(s.where, scope) if s.where is not None else None
        from_sql, where_sql = self.files_read(from_sql, where_sql, scope)
        sql += " FROM " + from_sql
        if where_sql is not None:
            sql += " WHERE " + where_sql
        if s.group_by:
            groups = [self.group_item(g, scope) for g in s.group_by]
            sql += " GROUP BY " + ", ".join(groups)
        if s.having is not None:
            sql += " HAVING " + self.cond(s.having, scope)
        self.check_grouping(s, scope)
        return sql, cols, scope

    def where(self, c: A.Cond, scope: Scope) -> str:
        if S.has_aggregate(c):
            raise AdqlError("aggregate functions (COUNT, SUM, AVG, MIN, MAX) cannot be used in "
                            "WHERE; filter groups with HAVING", c.line, c.col)
        outer, self.conjuncts = self.conjuncts, {id(x) for x in _conjuncts(c)}
        try:
            return self.cond(c, scope)
        finally:
            self.conjuncts = outer

    def files_read(self, from_sql: str, where_sql: str | None, scope: Scope) -> tuple[str, str | None]:
        """The FROM clause with each HATS table read from the files of the cells its WHERE confines it to
        (all of them when it does not): the engine then opens only those, without listing the folder.
        The WHERE loses the partition predicates of the tables read so: every row of those files passes them."""
        named = set()
        for alias, (placeholder, whole, source) in scope.partitioned.items():
            fragment = None
            covers = scope.confined.get(alias)
            if covers:
                chosen = list(source.partitions())
                for cover in covers:
                    chosen = pruning.partitions_in(cover.moc, chosen)
                fragment = source.sql_from(self.d.name, chosen)
            if fragment:
                named.add(alias)
            from_sql = from_sql.replace(placeholder, fragment or whole)
        for placeholder, (alias, predicate) in scope.file_tests.items():  # placeholders only stand in a WHERE
            assert where_sql is not None
            where_sql = (where_sql.replace(placeholder + " AND ", "").replace(placeholder, "TRUE") if alias in named
                         else where_sql.replace(placeholder, predicate))
        return from_sql, where_sql

    def check_grouping(self, s: A.Select, scope: Scope) -> None:
        """With GROUP BY or an aggregate, every other column must be grouped: engines
        that would pick an arbitrary row's value (MariaDB) refuse it here like the rest."""
        items = [it.expr for it in s.items]
        if not s.group_by and not any(S.has_aggregate(e) for e in items) and s.having is None:
            return
        keys = {S.fingerprint(g) for g in s.group_by}
        for g in s.group_by:  # GROUP BY an output name groups that item's expression
            if isinstance(g, A.ColumnRef) and len(g.parts) == 1 and g.column is None:
                keys |= {S.fingerprint(it.expr) for it in s.items
                         if it.alias is not None and it.alias.key.lower() == g.parts[0].key.lower()}
        local = {id(c) for src in scope.sources for c in src.cols or []}

        def is_local(ref: A.ColumnRef) -> bool:
            return ref.column is not None and id(ref.column) in local

        for e in items + ([s.having] if s.having is not None else []):
            if isinstance(e, A.Star):
                raise AdqlError("SELECT * cannot be used with GROUP BY or aggregates; name the "
                                "grouped columns", e.line, e.col)
            bad = S.ungrouped_column(e, keys, is_local)
            if bad is not None:
                name = ".".join(p.name for p in bad.parts)
                raise AdqlError(f"column {name} must be listed in GROUP BY or used inside an "
                                f"aggregate function such as MAX({name})", bad.line, bad.col)

    def group_item(self, g: A.Expr, scope: Scope) -> str:
        if isinstance(g, A.ColumnRef) and len(g.parts) == 1 and self.find_column(
                g.parts[0], scope, required=False) is None:
            alias = self.output_alias(g, scope)
            if alias:
                return alias
        return self.expr(g, scope)

    def select_list(self, items: list[A.SelectItem], scope: Scope) -> tuple[str, list[Col] | None]:
        sql: list[str] = []
        cols: list[Col] | None = []
        used: set[str] = set()
        for it in items:
            if isinstance(it.expr, A.Star):
                expanded = self.star(it.expr, scope)
                if expanded is None:
                    sql.append(self.star_sql(it.expr, scope))
                    cols = None
                    continue
                for src, c in expanded:
                    name = self.unique(c.name, used)
                    sql.append(f"{self.star_column(src, c)} AS {self.q(name)}")
                    if cols is not None:
                        cols.append(Col(name, _rename(c.out, name)))
                continue
            expr_sql = self.value(it.expr, scope)
            self.warn_glued_alias(it)
            name = self.unique(self.item_name(it), used)
            out = _rename(self.type_of(it.expr, scope), name)
            sql.append(f"{expr_sql} AS {self.q(name)}")
            if cols is not None:
                cols.append(Col(name, out, expr_sql if S.has_aggregate(it.expr) else None))
        return ", ".join(sql), cols

    def warn_glued_alias(self, it: A.SelectItem) -> None:
        """SQL reads ``89x`` as ``89 AS x``; ADQL allows it, but it is rarely meant."""
        e, alias = it.expr, it.alias
        if (isinstance(e, A.Literal) and e.kind in ("int", "num") and alias is not None
                and alias.line == e.line and alias.col == e.col + len(e.value)):
            self.warnings.append(f"'{e.value}{alias.name}' is read as the number {e.value} named "
                                 f"{alias.name}; write '{e.value} AS {alias.name}' to say so")

    @staticmethod
    def unique(name: str, used: set[str]) -> str:
        base, n = name, 2
        while name.lower() in used:
            name = f"{base}_{n}"
            n += 1
        used.add(name.lower())
        return name

    def item_name(self, it: A.SelectItem) -> str:
        if it.alias is not None:
            return self.name_of(it.alias)
        e = it.expr
        while isinstance(e, A.Paren):
            e = e.inner
        if isinstance(e, A.ColumnRef):
            if isinstance(e.column, Col):
                return e.column.name
            return self.name_of(e.parts[-1])
        if isinstance(e, (A.Func, A.Geom)):
            return e.name.lower()
        if isinstance(e, A.Cast):
            return "cast"
        return "expr"

    def star(self, star: A.Star, scope: Scope) -> list[tuple[Source, Col]] | None:
        if star.qualifier is None:
            sources = scope.sources
        else:
            src = self.find_source(star.qualifier, scope, star)
            if src is None:
                return None
            sources = [src]
        if any(s.cols is None for s in sources):
            return None
        return [(s, c) for s in sources for c in s.cols or [] if c.name.lower() not in s.hidden]

    def star_column(self, src: Source, c: Col) -> str:
        sql = f"{src.sql_alias}.{self.q(c.name)}"
        if self.d.native_geometry and c.out.datatype in GEOMETRY_TYPES and not self.depth:
            # pg_sphere values print in radians; DALI wants the degree arrays.
            return self.geo.output(GNative(sql, c.out.datatype))
        return sql

    def star_sql(self, star: A.Star, scope: Scope) -> str:
        if star.qualifier is None:
            return "*"
        src = self.find_source(star.qualifier, scope, star)
        if src is not None:
            return f"{src.sql_alias}.*"
        return ".".join(self.q(self.name_of(p)) for p in star.qualifier) + ".*"

    # ---- FROM -----------------------------------------------------------

    def table_ref(self, t: A.TableRef, scope: Scope) -> str:
        if isinstance(t, A.TableName):
            return self.table_name(t, scope)
        if isinstance(t, A.Derived):
            # A subquery in FROM sees the enclosing query, not its FROM siblings.
            with self.inner():
                sql, cols = self.query(t.query, scope.parent, scope.ctes)
            alias = self.add_source(scope, t.alias, None, cols)
            return f"({sql}) AS {alias}"
        return self.join(t, scope)

    def join(self, j: A.Join, scope: Scope) -> str:
        left = self.table_ref(j.left, scope)
        n_left = len(scope.sources)
        right = self.table_ref(j.right, scope)
        right_sources = scope.sources[n_left:]
        left_sources = scope.sources[:n_left]
        if j.kind == "FULL" and not self.d.full_join:
            raise AdqlError(f"FULL OUTER JOIN is not supported on {self.d.title}; use a UNION of a "
                            "LEFT and a RIGHT join", j.line, j.col)
        keyword = {None: "JOIN", "INNER": "JOIN", "LEFT": "LEFT OUTER JOIN",
                   "RIGHT": "RIGHT OUTER JOIN", "FULL": "FULL OUTER JOIN"}[j.kind]
        if j.natural:
            common = self.natural_columns(left_sources, right_sources)
            if common is None:
                return f"{left} NATURAL {keyword} {right}"
            using = common
        elif j.using is not None:
            using = [self.using_column(u, left_sources, right_sources) for u in j.using]
        elif j.on is not None:
            return f"{left} {keyword} {right} ON {self.cond(j.on, scope)}"
        else:
            if keyword == "JOIN":
                return f"{left} CROSS JOIN {right}"
            return f"{left} {keyword} {right} ON 1 = 1"
        for s in right_sources:
            s.hidden |= {u.lower() for u in using}
        for s in scope.sources[: n_left + len(right_sources)]:
            s.join_keys |= {u.lower() for u in using}
        if not using:
            return f"{left} CROSS JOIN {right}"
        return f"{left} {keyword} {right} USING ({', '.join(self.q(u) for u in using)})"

    @staticmethod
    def natural_columns(left: list[Source], right: list[Source]) -> list[str] | None:
        if any(s.cols is None for s in left + right):
            return None
        lnames = {c.name.lower(): c.name for s in left for c in s.cols or []}
        return [c.name for s in right for c in s.cols or [] if c.name.lower() in lnames]

    def using_column(self, u: A.Ident, left: list[Source], right: list[Source]) -> str:
        found = None
        for side in (left, right):
            hits = [c for s in side if s.cols is not None for c in s.cols if _col_matches(c, u)]
            if not hits and all(s.cols is not None for s in side):
                raise AdqlError(f"USING ({u.name}): no such column on one side of the join",
                                u.line, u.col)
            found = found or (hits[0].name if hits else None)
        return found or self.name_of(u)

    def table_name(self, t: A.TableName, scope: Scope) -> str:
        last = t.parts[-1]
        if len(t.parts) == 1 and last.key in scope.ctes:
            emitted, cols = scope.ctes[last.key]
            alias = self.add_source(scope, t.alias or last, None, cols)
            return f"{self.q(emitted)} AS {alias}"
        info = self.lookup_table(t)
        if info is None:
            sql = ".".join(self.q(self.name_of(p)) for p in t.parts)
            schema = self.name_of(t.parts[-2]) if len(t.parts) > 1 else None
            alias = self.add_source(scope, t.alias or last, schema if t.alias is None else None, None)
            return f"{sql} AS {alias}"
        t.table = info
        if (info.schema, info.name) not in self.tables:
            self.tables.append((info.schema, info.name))
        cols = [Col(c.name, _out_from_info(c.name, c)) for c in info.columns]
        base = info.sql_from or (
            (self.q(info.schema) + "." if info.schema else "") + self.q(info.name))
        src_ident = t.alias or A.Ident(info.name, True)
        alias = self.add_source(scope, src_ident, info.schema if t.alias is None else None, cols)
        if t.alias is None:
            scope.sources[-1].display = f"{info.schema}.{info.name}" if info.schema else info.name
        scope.sources[-1].sky = info.sky
        xm = self.crossmatches.get(id(t))
        if xm is not None and xm.expands(t):  # the smaller side of a cross-match, copied per zone
            return xm.from_item(self.d, base, alias)
        item = f"{base} AS {alias}"
        if info.partitioned is not None and info.sky is not None and info.sky.partition_orders:
            placeholder = f"\x00files of {alias} {len(self.tables)}:{id(scope)}\x00"  # files_read replaces it
            scope.partitioned[alias] = (placeholder, base, info.partitioned)
            item = f"{placeholder} AS {alias}"
        return xm.probe_item(self.d, item, alias) if xm is not None else item  # the other side: its RA for the window

    def lookup_table(self, t: A.TableName) -> TableInfo | None:
        if self.catalog is None:
            return None
        name = t.parts[-1]
        schema = t.parts[-2] if len(t.parts) > 1 else None
        found = self.catalog.find_tables(schema.name if schema else None, name.name,
                                         name.delimited, bool(schema and schema.delimited))
        if len(found) == 1:
            return found[0]
        written = ".".join(p.name for p in t.parts)
        if not found:
            hint = _suggest(written if schema else name.name,
                            self.catalog.table_names() if schema else
                            [x.name for x in self.catalog.tables] + self.catalog.table_names())
            raise AdqlError(f"unknown table '{written}'{hint}", t.line, t.col)
        names = ", ".join(f"{x.schema}.{x.name}" for x in found)
        raise AdqlError(f"table name {written} is ambiguous ({names}); add the schema",
                        t.line, t.col)

    def add_source(self, scope: Scope, ident: A.Ident, schema: str | None,
                   cols: list[Col] | None) -> str:
        key = ident.key
        for s in scope.sources:
            if s.alias.lower() == key.lower() and (s.schema or "").lower() == (schema or "").lower():
                raise AdqlError(f"the name {ident.name} is used twice in FROM; give one an alias "
                                "with AS", ident.line, ident.col)
        taken = {s.sql_alias for s in scope.sources}
        emitted = self.name_of(ident) if not ident.delimited else ident.name
        sql_alias = self.q(emitted)
        n = 2
        while sql_alias in taken:
            sql_alias = self.q(f"{emitted}_{n}")
            n += 1
        scope.sources.append(Source(key, ident.delimited, schema, sql_alias, cols))
        return sql_alias

    # ---- column resolution ----------------------------------------------

    def find_source(self, qual: list[A.Ident], scope: Scope | None, node: object) -> Source | None:
        q_last = qual[-1]
        q_schema = qual[-2] if len(qual) > 1 else None
        s_: Scope | None = scope
        while s_ is not None:
            hits = []
            for s in s_.sources:
                same = (s.alias == q_last.name if q_last.delimited
                        else s.alias.lower() == q_last.name.lower())
                if same and (q_schema is None or (s.schema or "").lower() == q_schema.name.lower()):
                    hits.append(s)
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise AdqlError(f"{q_last.name} is ambiguous here; use an alias", q_last.line,
                                q_last.col)
            s_ = s_.parent
        if self.catalog is not None and (scope is None or all(
                s.cols is not None for s in scope.sources)):
            names = [s.alias for s in (scope.sources if scope else [])]
            written = ".".join(p.name for p in qual)
            raise AdqlError(f"{written} is not a table in FROM{_suggest(q_last.name, names)}",
                            q_last.line, q_last.col)
        return None

    def find_column(self, ident: A.Ident, scope: Scope, required: bool = True
                    ) -> tuple[Source, Col] | None:
        s_: Scope | None = scope
        unknown_seen = False
        while s_ is not None:
            hits = [(s, c) for s in s_.sources for c in s.columns_named(ident)]
            if len(hits) > 1 and not all(ident.key.lower() in s.join_keys for s, _ in hits):
                tabs = " and ".join(s.display for s, _ in hits)
                raise AdqlError(f"column {ident.name} is ambiguous: it is in {tabs}; write "
                                f"table.{ident.name}", ident.line, ident.col)
            if hits:
                return hits[0]
            if any(s.cols is None for s in s_.sources):
                unknown_seen = True
                break
            s_ = s_.parent
        if unknown_seen or not required or self.catalog is None:
            return None
        names = sorted({c.name for s in scope.sources for c in s.cols or []})
        tabs = ", ".join(s.display for s in scope.sources)
        hint = _suggest(ident.name, names)
        if any(_col_matches(c, ident) for c in scope.outputs):
            hint = f"; {ident.name} is a name given with AS, which WHERE cannot use: repeat the expression"
        elif ident.delimited and not hint:
            hint = f"; text values take single quotes: '{ident.name}'"
        raise AdqlError(f"unknown column '{ident.name}' in {tabs}{hint}", ident.line, ident.col)

    def column(self, ref: A.ColumnRef, scope: Scope) -> str:
        name = ref.parts[-1]
        if len(ref.parts) == 1:
            hit = self.find_column(name, scope)
            if hit is None:
                return self.q(self.name_of(name))
            src, col = hit
            ref.column = col
            return f"{src.sql_alias}.{self.q(col.name)}"
        src_ = self.find_source(ref.parts[:-1], scope, ref)
        if src_ is None:
            return ".".join(self.q(self.name_of(p)) for p in ref.parts)
        if src_.cols is None:
            return f"{src_.sql_alias}.{self.q(self.name_of(name))}"
        for c in src_.cols:
            if _col_matches(c, name):
                ref.column = c
                return f"{src_.sql_alias}.{self.q(c.name)}"
        hint = _suggest(name.name, [c.name for c in src_.cols])
        raise AdqlError(f"unknown column '{name.name}' in {src_.display}{hint}", name.line, name.col)

    # ---- conditions -----------------------------------------------------

    def cond(self, c: A.Cond, scope: Scope) -> str:
        if isinstance(c, A.BoolOp):
            return self.bool_chain(c, scope)
        if isinstance(c, A.Not):
            with self.negation():
                return f"(NOT {self.cond(c.operand, scope)})"
        if isinstance(c, A.Compare):
            return self.compare(c, scope)
        if isinstance(c, A.Between):
            neg = "NOT " if c.negated else ""
            sql = (f"({self.expr(c.operand, scope)} {neg}BETWEEN {self.expr(c.low, scope)}"
                   f" AND {self.expr(c.high, scope)})")
            t = self.type_of(c.operand, scope).datatype
            for bound in (c.low, c.high):
                S.check_comparable(t, self.type_of(bound, scope).datatype, "BETWEEN", c)
            return sql
        if isinstance(c, A.InList):
            neg = "NOT " if c.negated else ""
            if c.query is not None:
                with self.inner():
                    sub, cols = self.query(c.query, scope, scope.ctes)
                if cols is not None and len(cols) != 1:
                    raise AdqlError("the subquery after IN must select exactly one column",
                                    c.line, c.col)
                inner = sub
            else:
                inner = ", ".join(self.expr(i, scope) for i in c.items or [])
            operand = self.expr(c.operand, scope)
            t = self.type_of(c.operand, scope).datatype
            for item in c.items or []:
                S.check_comparable(t, self.type_of(item, scope).datatype, "IN", c)
            return f"({operand} {neg}IN ({inner}))"
        if isinstance(c, A.Like):
            return self.d.like(self.expr(c.operand, scope), self.expr(c.pattern, scope),
                               c.negated, c.ilike)
        if isinstance(c, A.IsNull):
            return f"({self.expr(c.operand, scope)} IS {'NOT ' if c.negated else ''}NULL)"
        with self.inner():
            sub, _ = self.query(c.query, scope, scope.ctes)
        return f"(EXISTS ({sub}))"

    def bool_chain(self, c: A.BoolOp, scope: Scope) -> str:
        """a OR b OR c ... parses left-deep: walk its spine instead of recursing,
        so that generated queries with thousands of terms translate."""
        rights: list[A.Cond] = []
        node: A.Cond = c
        while isinstance(node, A.BoolOp) and node.op == c.op:
            rights.append(node.right)
            node = node.left
        parts = [self.cond(node, scope)] + [self.cond(r, scope) for r in reversed(rights)]
        return "(" + f" {c.op} ".join(parts) + ")"

    def binary_chain(self, e: A.Binary, scope: Scope) -> str:
        spine: list[A.Binary] = []
        node: A.Expr = e
        while isinstance(node, A.Binary):
            spine.append(node)
            node = node.left
        first = self.expr(node, scope)
        steps = [(b.op, self.expr(b.right, scope)) for b in reversed(spine)]
        types = self.chain_types(node, spine, scope)
        ops = {op for op, _ in steps}
        if ops <= {"+", "-"} or ops == {"*"}:
            # One precedence level, left-associative everywhere: no nesting needed.
            return "(" + first + "".join(f" {op} {r}" for op, r in steps) + ")"
        if ops == {"||"}:
            return self.d.concat_all([first] + [r for _, r in steps])
        sql = first
        for (op, right), (lt, rt) in zip(steps, types, strict=True):
            if op == "||":
                sql = self.d.concat(sql, right)
            elif op == "/" and lt in S.INTS and rt in S.INTS:
                sql = self.d.int_div(sql, right)
            elif op == "/":
                sql = self.d.div(sql, right)
            else:
                sql = f"({sql} {op} {right})"
        return sql

    def chain_types(self, first: A.Expr, spine: list[A.Binary], scope: Scope
                    ) -> list[tuple[str, str]]:
        """(left type, right type) of each step of a left-deep chain; checks the operands."""
        out = []
        left = self.type_of(first, scope).datatype
        for b in reversed(spine):
            right = self.type_of(b.right, scope).datatype
            out.append((left, right))
            left = S.arith_type(b.op, left, right, b)
        return out

    def compare(self, c: A.Compare, scope: Scope) -> str:
        xm = self.crossmatches.get(id(c))
        if xm is not None:  # a cross-match: a zone equi-join (crossmatch.py)
            return xm.condition(self.d, lambda e: self.expr(e, scope), self.geo.distance,
                                self.expr(xm.radius, scope))
        # 1 = CONTAINS(...) and friends become a bare predicate (index-friendly).
        for geo_side, lit in ((c.left, c.right), (c.right, c.left)):
            if (isinstance(geo_side, A.Func) and geo_side.name in ("CONTAINS", "INTERSECTS")
                    and isinstance(lit, A.Literal) and lit.kind == "int" and lit.value in ("0", "1")
                    and c.op in ("=", "<>")):
                true = (lit.value == "1") == (c.op == "=")
                if true:
                    return self.predicate(geo_side, scope, required=id(c) in self.conjuncts)
                with self.negation():
                    return f"(NOT {self.predicate(geo_side, scope)})"
        cone = self.distance_cone(c, scope, required=id(c) in self.conjuncts)
        if cone is not None:
            return cone
        left, right = self.expr(c.left, scope), self.expr(c.right, scope)
        S.check_comparable(self.type_of(c.left, scope).datatype,
                           self.type_of(c.right, scope).datatype, f"'{c.op}'", c)
        return f"({left} {c.op} {right})"

    def distance_cone(self, c: A.Compare, scope: Scope, required: bool = False) -> str | None:
        """DISTANCE(p, q) < r gets the cone test's index-friendly prefilter too."""
        flipped = {">": "<", ">=": "<="}
        if c.op in ("<", "<=") and isinstance(c.left, A.Func) and c.left.name == "DISTANCE":
            dist, radius = c.left, c.right
        elif c.op in (">", ">=") and isinstance(c.right, A.Func) and c.right.name == "DISTANCE":
            dist, radius = c.right, c.left
        else:
            return None
        if len(dist.args) not in (2, 4) or _constant(radius) is None:
            return None
        a, b = self.distance_points(dist, scope)
        if not (isinstance(a, GPoint) and isinstance(b, GPoint)):
            return None
        if b.plain and not a.plain:
            a, b = b, a
        r = self.expr(radius, scope)
        op = c.op if dist is c.left else flipped.get(c.op, c.op)
        exact = f"{self.geo.distance(a.x, a.y, b.x, b.y)} {op} {r}"
        prefilter = self.geo.cone_prefilter(a, GCircle(b.x, b.y, r))
        return self.pruned(f"({prefilter} AND {exact})" if prefilter else f"({exact})",
                           [(a, GCircle(b.x, b.y, r)), (b, GCircle(a.x, a.y, r))], scope, required)

    def distance_points(self, dist: A.Func, scope: Scope) -> tuple[Geo, Geo]:
        """The points of DISTANCE(p, q), or of DISTANCE(ra1, dec1, ra2, dec2)."""
        if len(dist.args) == 2:
            return self.geometry(dist.args[0], scope), self.geometry(dist.args[1], scope)
        x1, y1, x2, y2 = dist.args
        return (GPoint(self.expr(x1, scope), self.expr(y1, scope), _columns(x1, y1)),
                GPoint(self.expr(x2, scope), self.expr(y2, scope), _columns(x2, y2)))

    def predicate(self, f: A.Func, scope: Scope, required: bool = False) -> str:
        a, b = (self.region_or_geometry(x, scope) for x in f.args)
        pairs = [(a, b)] if f.name == "CONTAINS" else [(a, b), (b, a)]
        return self.pruned(self.region_predicate(f.name, a, b, f), pairs, scope, required)

    def pruned(self, exact: str, pairs: Sequence[tuple[object, object]], scope: Scope, required: bool = False) -> str:
        """``exact`` preceded by the HEALPix cells its (point, region) pairs allow (pruning.py).

        The cells are implied by the exact test, so ``(cells AND exact)`` has the
        same truth value, except that a row with a NULL position may turn NULL
        into FALSE: invisible where NULL and FALSE both reject (a WHERE, ON,
        HAVING, CASE WHEN), visible under NOT, where pruning cannot help anyway.
        ``required``: every row of the query passes this test (a conjunct of its WHERE), so a HATS
        table of this query confined by it is read from its cells' files only (files_read).
        """
        if self.negated:
            return exact
        tables: list[tuple[str, SkyIndex]] = []
        seen: set[str] = set()  # an alias of a subquery hides the same alias outside
        s_: Scope | None = scope
        while s_ is not None:
            tables += [(s.sql_alias, s.sky) for s in s_.sources if s.sky is not None and s.sql_alias not in seen]
            seen |= {s.sql_alias for s in s_.sources}
            s_ = s_.parent
        for point, region in pairs if tables else []:
            cover = pruning.prune_cover(point, region, tables, self.q)
            if cover is None:
                continue
            files, index = cover.partition_condition(self.q), cover.index_condition(self.q)
            if not (files or index):
                continue
            if files and required and cover.alias in scope.partitioned:
                scope.confined.setdefault(cover.alias, []).append(cover)
                files = self.file_test(cover.alias, files, scope)
            return "(" + " AND ".join(p for p in (files, index, exact) if p) + ")"
        return exact

    def file_test(self, alias: str, predicate: str, scope: Scope) -> str:
        """A placeholder for ``alias``'s partition predicate, which files_read resolves once it knows the files read."""
        placeholder = f"\x00file test {len(scope.file_tests)}:{id(scope)}\x00"
        scope.file_tests[placeholder] = (alias, predicate)
        return placeholder

    def region_or_geometry(self, e: A.Expr, scope: Scope) -> Geo | Compound:
        while isinstance(e, A.Paren):
            e = e.inner
        if isinstance(e, A.Geom) and e.name == "REGION":
            region = self.region(e)
            if isinstance(region, Compound):
                return region
            return self.shape(region)
        return self.geometry(e, scope)

    def region_predicate(self, op: str, a: Geo | Compound | Region, b: Geo | Compound | Region,
                         node: A.Func) -> str:
        """CONTAINS/INTERSECTS with STC-S Union, Intersection and Not, where the logic is exact."""
        a = self.shape(a) if isinstance(a, Shape) else a
        b = self.shape(b) if isinstance(b, Shape) else b
        point_a = not isinstance(a, Compound) and geo_type(a) == "POINT"
        if isinstance(b, Compound):
            if b.op == "NOT":  # x inside not-R: x misses R; x meets not-R: x is not inside R
                other = "INTERSECTS" if op == "CONTAINS" else "CONTAINS"
                return f"(NOT {self.region_predicate(other, a, b.parts[0], node)})"
            exact = point_a or (op == "INTERSECTS") == (b.op == "UNION")
            if exact:
                parts = [self.region_predicate(op, a, p, node) for p in b.parts]
                return "(" + (" OR " if b.op == "UNION" else " AND ").join(parts) + ")"
        if isinstance(a, Compound) and op == "INTERSECTS":
            return self.region_predicate(op, b, a, node)
        if isinstance(a, Compound) and a.op == "UNION":  # every part inside b
            return "(" + " AND ".join(self.region_predicate(op, p, b, node) for p in a.parts) + ")"
        if isinstance(a, Compound) or isinstance(b, Compound):
            raise AdqlError(f"{op} with this combination of regions has no exact answer here; test a "
                            "point, or split the region into its parts", node.line, node.col)
        return self.geo.contains(a, b) if op == "CONTAINS" else self.geo.intersects(a, b)

    def region(self, g: A.Geom) -> Region:
        lit = g.args[0]
        assert isinstance(lit, A.Literal)
        try:
            region = parse_region(lit.value)
        except AdqlError as e:
            raise AdqlError(e.message, lit.line, lit.col) from None
        for frame in sorted(frames(region) - {"ICRS", "FK5", "J2000", "UNKNOWNFRAME"}):
            self.warnings.append(f"coordinate system '{frame}' is ignored: coordinates are taken as "
                                 "they are (no frame conversion)")
        return region

    def shape(self, s: Shape) -> Geo:
        v = [self.d.double(x) for x in s.numbers]
        if s.kind == "POSITION":
            return GPoint(v[0], v[1])
        if s.kind == "CIRCLE":
            return GCircle(v[0], v[1], v[2])
        if s.kind == "BOX":
            return GBox(v[0], v[1], v[2], v[3])
        pairs = tuple(zip(s.numbers[::2], s.numbers[1::2], strict=True))
        return GPolygon(tuple(v[::2]), tuple(v[1::2]), pairs)

    # ---- expressions ----------------------------------------------------

    def value(self, e: A.Expr, scope: Scope) -> str:
        """An expression in the select list, where geometries are output."""
        inner = e.inner if isinstance(e, A.Paren) else e
        if self.is_geometry(inner, scope):
            return self.geometry_value(self.geometry(inner, scope))
        return self.expr(e, scope)

    def is_geometry(self, e: A.Expr, scope: Scope) -> bool:
        if isinstance(e, A.Geom) or (isinstance(e, A.Func) and e.name == "CENTROID"):
            return True
        if isinstance(e, A.Func) and e.kind == "udf" and self.udf_point(e, scope) is not None:
            return True
        if isinstance(e, A.Cast) and e.type in GEOMETRY_TYPES:
            return True
        if isinstance(e, A.ColumnRef):
            self.column(e, scope)
            return isinstance(e.column, Col) and e.column.out.datatype in GEOMETRY_TYPES
        return False

    def expr(self, e: A.Expr, scope: Scope) -> str:
        return _bounded(self.expr_sql(e, scope), e)

    def expr_sql(self, e: A.Expr, scope: Scope) -> str:
        if isinstance(e, A.Literal):
            return self.literal(e)
        if isinstance(e, A.ColumnRef):
            sql = self.column(e, scope)
            if isinstance(e.column, Col) and e.column.out.datatype in GEOMETRY_TYPES:
                return self.geometry_value(self.geometry(e, scope))
            return sql
        if isinstance(e, A.Paren):
            return f"({self.expr(e.inner, scope)})"
        if isinstance(e, A.Unary):
            sql = self.expr(e.operand, scope)
            S.arith_type(e.op, "BIGINT", self.type_of(e.operand, scope).datatype, e)
            return f"({e.op}{sql})"
        if isinstance(e, A.Binary):
            return self.binary_chain(e, scope)
        if isinstance(e, A.Func):
            return self.func(e, scope)
        if isinstance(e, A.Cast):
            return self.cast(e, scope)
        if isinstance(e, A.Case):
            return self.case(e, scope)
        if isinstance(e, A.Geom):
            return self.geometry_value(self.geometry(e, scope))
        raise AdqlError("'*' is only allowed in the select list and in COUNT(*)", e.line, e.col)

    def literal(self, e: A.Literal) -> str:
        if e.kind == "str":
            text = self.d.string(e.value)
            return self.d.collated(text)
        if e.kind == "null":
            return "NULL"
        if e.kind == "hex":
            return str(int(e.value, 16))
        # Re-print through float/int so only a well-formed number is emitted.
        if e.kind == "int":
            return str(int(e.value))
        return self.d.double(float(e.value))

    def func(self, f: A.Func, scope: Scope) -> str:
        if f.kind == "agg":
            if isinstance(f.args[0], A.Star):
                return "COUNT(*)"
            return self.aggregate(f, scope)
        if f.kind == "geom":
            return self.geom_func(f, scope)
        if f.kind == "unit":
            return self.in_unit(f, scope)
        if f.kind == "udf":
            return self.udf(f, scope)
        args = [self.expr(a, scope) for a in f.args]
        if f.kind == "math":
            if f.name == "RAND" and args and not self.d.seeded_rand:
                self.warnings.append("RAND(seed): the seed is ignored on this engine")
                args = []
            return self.math(f, args, scope)
        if f.kind == "string":
            if S.kind(self.type_of(f.args[0], scope).datatype) == "number":
                raise AdqlError(f"{f.name} needs text, not a number", f.line, f.col)
        return f"{f.name}({', '.join(args)})"  # LOWER UPPER COALESCE

    def aggregate(self, f: A.Func, scope: Scope) -> str:
        if S.has_aggregate(f.args[0]):
            raise AdqlError(f"aggregate functions cannot be nested inside {f.name}; compute the inner "
                            "one in a subquery", f.line, f.col)
        arg = self.expr(f.args[0], scope)
        distinct = "DISTINCT " if f.distinct else ""
        datatype = self.type_of(f.args[0], scope).datatype
        if f.name in ("SUM", "AVG"):
            S.check_numeric_argument(f.name, datatype, f)
        if f.name == "AVG":  # double precision everywhere (MariaDB would keep 4 decimals)
            return f"AVG({distinct}{self.d.as_double(arg)})"
        if f.name == "SUM" and datatype in S.INTS:  # not NUMERIC, DECIMAL or HUGEINT
            return self.d.as_int(f"SUM({distinct}{arg})")
        return f"{f.name}({distinct}{arg})"

    def math(self, f: A.Func, args: list[str], scope: Scope) -> str:
        types = [self.type_of(a, scope).datatype for a in f.args]
        if f.name in S.NUMERIC_FUNCTIONS:
            for t in types:
                S.check_numeric_argument(f.name, t, f)
        ints = bool(types) and all(t in S.INTS for t in types)
        if f.name == "ROUND" and len(args) == 1 and ints:
            return args[0]  # an integer is already round
        if f.name == "MOD" and ints:
            return self.d.as_int(self.d.math("MOD", args))
        sql = self.d.math(f.name, args)
        if self.func_type(f, scope).datatype == "DOUBLE" and f.name not in ("RAND", "PI"):
            return self.d.as_double(sql)  # one result type, whatever the engine's
        return sql

    def udf_point(self, e: A.Expr, scope: Scope) -> GPoint | None:
        """A built-in function returning a POINT (unless the metadata defines one of that name)."""
        if not (isinstance(e, A.Func) and e.kind == "udf"):
            return None
        if self.catalog is not None and self.catalog.function(e.name) is not None:
            return None
        known = builtin(e.name)
        if known is None or known.point is None:
            return None
        args = [self.expr(a, scope) for a in e.args]
        x, y = emit_point(known, self.d, args, e.args, e)
        return GPoint(_bounded(x, e), _bounded(y, e))

    def udf(self, f: A.Func, scope: Scope) -> str:
        point = self.udf_point(f, scope)
        if point is not None:
            return self.geometry_value(point)
        args = [self.expr(a, scope) for a in f.args]
        info = self.catalog.function(f.name) if self.catalog is not None else None
        if info is None:
            known = builtin(f.name)
            if known is not None:
                if self.d.name not in known.dialects:
                    raise AdqlError(f"{known.name} is not available on {self.d.name}", f.line, f.col)
                return emit_udf(known, self.d, args, f.args, f)
        if self.catalog is None:
            self.warnings.append(f"function {f.name} was not checked (no metadata)")
            return f"{f.name}({', '.join(args)})"
        if info is None:
            names = [fn.name for fn in self.catalog.functions.values()] + list(UDFS)
            raise AdqlError(f"unknown function '{f.name}'{_suggest(f.name, names)}", f.line, f.col)
        template = info.sql.get(self.d.name)
        if template is None:
            raise AdqlError(f"the function {f.name} is not available on this engine", f.line, f.col)
        if "{" in template:
            return template.format(*args, args=", ".join(args))
        return f"{template}({', '.join(args)})"

    def cast(self, c: A.Cast, scope: Scope) -> str:
        if c.type in GEOMETRY_TYPES:
            return self.geometry_value(self.geometry(c, scope))
        operand = self.expr(c.operand, scope)
        source = self.type_of(c.operand, scope).datatype
        if c.type in S.INTS and source in S.FLOATS:
            operand = self.d.round(operand, None)  # halves away from zero, as ROUND
        if c.type == "CHAR" and c.length is not None:
            return self.d.pad(self.d.as_text(operand), c.length)
        if c.type == "VARCHAR" and c.length is not None:
            return self.d.cut(self.d.as_text(operand), c.length)
        return f"CAST({operand} AS {self.d.cast_type(c.type, c.length)})"

    def case(self, c: A.Case, scope: Scope) -> str:
        out = "CASE"
        if c.operand is not None:
            out += " " + self.expr(c.operand, scope)
        for cond, result in c.whens:
            w = (self.expr(cond, scope) if c.operand is not None  # type: ignore[arg-type]
                 else self.cond(cond, scope))  # type: ignore[arg-type]
            out += f" WHEN {w} THEN {self.expr(result, scope)}"
        if c.default is not None:
            out += f" ELSE {self.expr(c.default, scope)}"
        return out + " END"

    def in_unit(self, f: A.Func, scope: Scope) -> str:
        sql = self.expr(f.args[0], scope)
        target = f.args[1]
        assert isinstance(target, A.Literal)
        factor = unit_factor(f.args[0], target.value, f, self.column_unit)
        return f"({sql} * {self.d.double(factor)})"

    @staticmethod
    def column_unit(ref: A.ColumnRef) -> str:
        return ref.column.out.unit if isinstance(ref.column, Col) else ""

    def geom_func(self, f: A.Func, scope: Scope) -> str:
        n = f.name
        if n in ("CONTAINS", "INTERSECTS"):
            return f"(CASE WHEN {self.predicate(f, scope)} THEN 1 ELSE 0 END)"
        if n == "DISTANCE":
            if len(f.args) == 4:
                x1, y1, x2, y2 = (self.expr(a, scope) for a in f.args)
                return self.geo.distance(x1, y1, x2, y2)
            a, b = (self.geometry(x, scope) for x in f.args)
            return self.geo.geo_distance(a, b)
        if n == "CENTROID":
            return self.geometry_value(self.geometry(f, scope))
        g = self.geometry(f.args[0], scope)
        if n == "AREA":
            return self.geo.area(g)
        if n == "COORDSYS":
            arg = f.args[0]
            cs = arg.coordsys if isinstance(arg, A.Geom) else None
            if isinstance(cs, A.Literal) and cs.kind == "str":
                return self.d.string(cs.value)
            return self.d.string("ICRS")
        return self.geo.coord(g, 1 if n == "COORD1" else 2)

    def geometry(self, e: A.Expr, scope: Scope) -> Geo:
        """An expression as a symbolic geometry."""
        while isinstance(e, A.Paren):
            e = e.inner
        if isinstance(e, A.Geom):
            return self.constructor(e, scope)
        if isinstance(e, A.Func) and e.name == "CENTROID":
            return self.geo.centroid(self.geometry(e.args[0], scope))
        if isinstance(e, A.ColumnRef):
            sql = self.column(e, scope)
            if isinstance(e.column, Col) and e.column.out.datatype in GEOMETRY_TYPES:
                return self.native_column(sql, e.column.out.datatype, e)
            if self.d.native_geometry:  # any pg_sphere value
                return GNative(sql, "REGION")
            raise AdqlError(f"{e.parts[-1].name} is not known to be a geometry column; "
                            "use POINT(ra, dec)", e.line, e.col)
        if isinstance(e, A.Cast) and e.type in GEOMETRY_TYPES:
            return self.cast_geometry(e)
        point = self.udf_point(e, scope)
        if point is not None:
            return point
        if isinstance(e, A.Func) and e.kind == "udf" and self.d.native_geometry:
            return GNative(self.udf(e, scope), "REGION")
        raise AdqlError("a geometry (POINT, CIRCLE, BOX, POLYGON) is needed here", e.line, e.col)

    def native_column(self, sql: str, datatype: str, e: A.ColumnRef) -> Geo:
        if self.d.native_geometry:
            return GNative(sql, datatype)
        item = [self.d.array_element(sql, i) for i in range(3)]  # DALI arrays: [ra, dec, radius]
        if datatype == "POINT":
            return GPoint(item[0], item[1])
        if datatype == "CIRCLE":
            return GCircle(item[0], item[1], item[2])
        raise AdqlError(f"{datatype} columns are not supported on {self.d.name}", e.line, e.col)

    def cast_geometry(self, c: A.Cast) -> Geo:
        lit = c.operand
        if not (isinstance(lit, A.Literal) and lit.kind == "str"):
            raise AdqlError(f"only a string of numbers can be cast to {c.type}", c.line, c.col)
        try:
            nums = [float(v) for v in lit.value.replace(",", " ").split()]
        except ValueError:
            raise AdqlError(f"cannot read {lit.value!r} as a {c.type}", c.line, c.col) from None
        s = [self.d.double(v) for v in nums]
        want = {"POINT": 2, "CIRCLE": 3}.get(c.type)
        if want is not None and len(nums) != want:
            raise AdqlError(f"a {c.type} needs {want} numbers", c.line, c.col)
        if c.type == "POINT":
            return GPoint(s[0], s[1])
        if c.type == "CIRCLE":
            return GCircle(s[0], s[1], s[2])
        if c.type != "POLYGON" or len(nums) < 6 or len(nums) % 2:
            raise AdqlError(f"cannot cast to {c.type}", c.line, c.col)
        pairs = tuple(zip(nums[::2], nums[1::2], strict=True))
        return GPolygon(tuple(s[::2]), tuple(s[1::2]), pairs)

    def constructor(self, g: A.Geom, scope: Scope) -> Geo:
        if g.name == "REGION":
            region = self.region(g)
            if isinstance(region, Compound):
                raise AdqlError("a REGION combining shapes (Union, Intersection, Not) can only be "
                                "used in CONTAINS or INTERSECTS", g.line, g.col)
            return self.shape(region)
        if g.coordsys is not None:
            self.check_coordsys(g.coordsys)
        args = [self.expr(a, scope) if not isinstance(a, A.Geom) else "" for a in g.args]
        for a in g.args:
            if not isinstance(a, A.Geom) and S.kind(self.type_of(a, scope).datatype) == "text":
                raise AdqlError(f"the coordinates of a {g.name} are numbers, not text", a.line, a.col)
        centre = self.centre(g, scope)
        if g.name == "POINT":
            plain = all(isinstance(a, A.ColumnRef) for a in g.args)
            return GPoint(args[0], args[1], plain)
        if g.name == "CIRCLE":
            return GCircle(*centre, args[-1])
        if g.name == "BOX":
            return GBox(*centre, args[-2], args[-1])
        return self.polygon(g, scope)

    def centre(self, g: A.Geom, scope: Scope) -> tuple[str, str]:
        n_plain = {"POINT": 2, "CIRCLE": 3, "BOX": 4}.get(g.name, 0)
        if len(g.args) == n_plain or g.name in ("POINT", "POLYGON"):
            return self.expr(g.args[0], scope), self.expr(g.args[1], scope)
        p = self.geometry(g.args[0], scope)
        if isinstance(p, GPoint):
            return p.x, p.y
        if isinstance(p, GNative) and p.type == "POINT":  # a pg_sphere point column
            return self.geo.coord(p, 1), self.geo.coord(p, 2)
        raise AdqlError(f"the centre of a {g.name} must be a point", g.line, g.col)

    def polygon(self, g: A.Geom, scope: Scope) -> GPolygon:
        as_points = len(g.args) % 2 == 1 or len(g.args) < 6
        xs: list[str] = []
        ys: list[str] = []
        nodes: list[tuple[A.Expr, A.Expr]] = []
        if as_points:
            for a in g.args:
                p = self.geometry(a, scope)
                if not isinstance(p, GPoint):
                    raise AdqlError("POLYGON vertices must be points", g.line, g.col)
                xs.append(p.x)
                ys.append(p.y)
                if isinstance(a, A.Geom) and len(a.args) == 2:
                    nodes.append((a.args[0], a.args[1]))
        else:
            xs = [self.expr(a, scope) for a in g.args[::2]]
            ys = [self.expr(a, scope) for a in g.args[1::2]]
            nodes = list(zip(g.args[::2], g.args[1::2], strict=True))
        return GPolygon(tuple(xs), tuple(ys), _constant_pairs(nodes, len(xs)))

    def check_coordsys(self, cs: A.Expr) -> None:
        if isinstance(cs, A.Literal) and cs.kind == "str":
            frame = cs.value.strip().split(" ")[0].upper() if cs.value.strip() else ""
            if frame not in ("", "ICRS", "J2000", "FK5", "UNKNOWNFRAME"):
                self.warnings.append(f"coordinate system '{cs.value}' is ignored: coordinates "
                                     "are taken as they are (no frame conversion)")

    # ---- types (inference.py) -------------------------------------------

    def type_of(self, e: A.Expr, scope: Scope) -> ColumnInfo:
        return self.types.of(e)

    def func_type(self, f: A.Func, scope: Scope) -> ColumnInfo:
        return self.types.func(f)


def _bounded(sql: str, e: object) -> str:
    if len(sql) > MAX_SQL_CHARS:
        # Guards and some functions repeat their arguments: nesting them multiplies the
        # text, and a huge statement can exhaust the engine's memory while planning it.
        raise AdqlError("this expression is too large once written for the database; compute its "
                        "inner part in a subquery", getattr(e, "line", None), getattr(e, "col", None))
    return sql


def _conjuncts(c: A.Cond) -> Iterator[A.Cond]:
    """The terms of a condition's top-level AND chain: each must hold for a row to pass."""
    todo = [c]
    while todo:
        node = todo.pop()
        if isinstance(node, A.BoolOp) and node.op == "AND":
            todo += [node.left, node.right]
        else:
            yield node


def _unwrap(q: A.Query) -> A.Query:
    """((SELECT ...)) is the SELECT itself when the brackets add nothing."""
    while isinstance(q.body, A.Query) and not q.order_by and q.offset is None:
        inner = q.body
        inner.ctes = q.ctes + inner.ctes
        q = inner
    return q


def _rename(out: ColumnInfo, name: str) -> ColumnInfo:
    return ColumnInfo(name, out.datatype, out.arraysize, out.xtype, out.unit, out.ucd,
                        out.description, out.utype)


def _columns(*es: A.Expr) -> bool:
    return all(isinstance(e, A.ColumnRef) for e in es)


def _constant(e: A.Expr) -> float | None:
    """The value of a literal number (possibly signed), else None."""
    while isinstance(e, A.Paren):
        e = e.inner
    if isinstance(e, A.Unary):
        inner = _constant(e.operand)
        return None if inner is None else (-inner if e.op == "-" else inner)
    if isinstance(e, A.Literal) and e.kind in ("int", "num", "hex"):
        return float(int(e.value, 16)) if e.kind == "hex" else float(e.value)
    return None


def _constant_pairs(nodes: list[tuple[A.Expr, A.Expr]], n: int
                    ) -> tuple[tuple[float, float], ...] | None:
    pairs = [(_constant(x), _constant(y)) for x, y in nodes]
    if len(pairs) != n or any(x is None or y is None for x, y in pairs):
        return None
    return tuple((float(x), float(y)) for x, y in pairs)  # type: ignore[arg-type]


def translate(text: str, dialect: str, *, catalog: Catalog | None = None,
              maxrec: int | None = None) -> Translation:
    """ADQL text to one engine's SQL, checked against ``catalog`` when given."""
    if maxrec is not None and maxrec < 0:
        raise AdqlError("MAXREC cannot be negative")
    return translate_tree(parse(text), dialect, catalog=catalog, maxrec=maxrec)


def translate_tree(tree: A.Query, dialect: str, *, catalog: Catalog | None = None,
                   maxrec: int | None = None) -> Translation:
    """A parsed query (``parse``) to one engine's SQL: for a caller that reads the tree first (the
    query planner routes by it), so the text is parsed once. The tree is annotated: translate it once."""
    if maxrec is not None and maxrec < 0:
        raise AdqlError("MAXREC cannot be negative")
    t = Translator(dialect, catalog)
    try:
        out = t.top_query(tree, maxrec)
    except RecursionError:
        raise AdqlError("the query is nested too deeply") from None
    if len(out.sql) > 4 * MAX_SQL_CHARS:
        raise AdqlError("the query is too large once written for the database; simplify it or split it")
    return out
