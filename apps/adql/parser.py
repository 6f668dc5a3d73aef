"""Recursive-descent parser for ADQL 2.1 (and 2.0) producing ``ast`` nodes.

Hand-written rather than generated so that every error can say, in words,
what was expected where, and so that one token of lookahead plus a bracket
scan settles the one ambiguity of the grammar: "(" opening a condition or
an expression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from . import ast as A
from .errors import AdqlError
from .lexer import Token, tokenize

# name -> (min args, max args)
MATH_FUNCTIONS: dict[str, tuple[int, int]] = {
    "ABS": (1, 1), "ACOS": (1, 1), "ASIN": (1, 1), "ATAN": (1, 1), "ATAN2": (2, 2),
    "CEILING": (1, 1), "COS": (1, 1), "COT": (1, 1), "DEGREES": (1, 1), "EXP": (1, 1),
    "FLOOR": (1, 1), "LOG": (1, 1), "LOG10": (1, 1), "MOD": (2, 2), "PI": (0, 0),
    "POWER": (2, 2), "RADIANS": (1, 1), "RAND": (0, 1), "ROUND": (1, 2), "SIN": (1, 1),
    "SQRT": (1, 1), "TAN": (1, 1), "TRUNCATE": (1, 2),
}
AGGREGATES = frozenset({"AVG", "MAX", "MIN", "SUM", "COUNT"})
GEOM_FUNCTIONS: dict[str, tuple[int, int]] = {
    "AREA": (1, 1), "COORD1": (1, 1), "COORD2": (1, 1), "COORDSYS": (1, 1),
    "DISTANCE": (2, 4), "CONTAINS": (2, 2), "INTERSECTS": (2, 2), "CENTROID": (1, 1),
}
CONSTRUCTORS = frozenset({"POINT", "CIRCLE", "BOX", "POLYGON", "REGION"})
CAST_TYPES = frozenset({"SMALLINT", "INTEGER", "BIGINT", "REAL", "TIMESTAMP",
                        "POINT", "CIRCLE", "POLYGON"})
# SQL functions (reserved in ADQL) that ADQL does not have, with what to write instead.
_NO_TEXT = "ADQL has no text functions but LOWER, UPPER, || and LIKE"
SQL_ONLY_FUNCTIONS = {
    "SUBSTRING": f"{_NO_TEXT}; test a prefix with LIKE 'abc%'",
    "CHAR_LENGTH": _NO_TEXT, "CHARACTER_LENGTH": _NO_TEXT, "OCTET_LENGTH": _NO_TEXT,
    "BIT_LENGTH": _NO_TEXT, "POSITION": _NO_TEXT, "TRIM": _NO_TEXT, "TRANSLATE": _NO_TEXT,
    "CONVERT": "write CAST(x AS type)", "EXTRACT": "ADQL has no date functions",
    "NULLIF": "write CASE WHEN a = b THEN NULL ELSE a END",
}
COMPARISONS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
# After a ")" these mean the bracket held a value, not a condition.
_VALUE_FOLLOWERS = COMPARISONS | {"+", "-", "*", "/", "||"}
_PREDICATE_KEYWORDS = frozenset({"IS", "IN", "BETWEEN", "LIKE", "ILIKE", "NOT"})
_JOIN_START = frozenset({"NATURAL", "INNER", "LEFT", "RIGHT", "FULL", "JOIN"})
MAX_DEPTH = 80  # nesting limit (~7 frames each), so input cannot exhaust the stack


def describe(tok: Token) -> str:
    """A token as an astronomer would name it in an error message."""
    if tok.kind == "EOF":
        return "the end of the query"
    if tok.kind == "KW":
        return f"the keyword {tok.value}"
    if tok.kind == "ID":
        return f"the name {tok.value}"
    if tok.kind == "QID":
        return f'the name "{tok.value}"'
    if tok.kind == "STR":
        return f"the string '{tok.value}'"
    if tok.kind in ("INT", "NUM", "HEX"):
        return f"the number {tok.value}"
    return f"'{tok.value}'"


class Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    # ---- token helpers --------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.toks[self.i]
        if t.kind != "EOF":
            self.i += 1
        return t

    def is_kw(self, *words: str) -> bool:
        t = self.toks[self.i]
        return t.kind == "KW" and t.value in words

    def is_op(self, *ops: str) -> bool:
        t = self.toks[self.i]
        return t.kind == "OP" and t.value in ops

    def accept_kw(self, word: str) -> bool:
        if self.is_kw(word):
            self.i += 1
            return True
        return False

    def accept_op(self, op: str) -> bool:
        if self.is_op(op):
            self.i += 1
            return True
        return False

    def fail(self, message: str, tok: Token | None = None) -> NoReturn:
        t = tok or self.tok
        raise AdqlError(message, t.line, t.col)

    def expected(self, what: str) -> NoReturn:
        t = self.tok
        if t.kind == "KW" and what.startswith("a name"):
            self.fail(f"{t.value.lower()} is a reserved word; if it is a name, write it in "
                      f'double quotes: "{t.value.lower()}"')
        self.fail(f"expected {what} but found {describe(t)}")

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            self.expected(word)
        return self.next()

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            self.expected(f"'{op}'")
        return self.next()

    def nested(self, fn: Callable[[], object]) -> object:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail("the query is nested too deeply")
        try:
            return fn()
        finally:
            self.depth -= 1

    def ident(self, what: str = "a name") -> A.Ident:
        t = self.tok
        if t.kind == "ID":
            self.i += 1
            return A.Ident(t.value, False, t.line, t.col)
        if t.kind == "QID":
            self.i += 1
            return A.Ident(t.value, True, t.line, t.col)
        self.expected(what)

    def unsigned_int(self, what: str) -> int:
        t = self.tok
        if t.kind != "INT":
            self.fail(f"{what} must be a whole number ≥ 0, not {describe(t)}")
        self.i += 1
        if int(t.value) > 2**63 - 1:
            self.fail(f"{what} is too large")
        return int(t.value)

    # ---- queries --------------------------------------------------------

    def statement(self) -> A.Query:
        q = self.query_specification()
        self.accept_op(";")
        if self.tok.kind == "ID" and self.tok.value.upper() == "LIMIT":
            self.fail("ADQL has no LIMIT: write SELECT TOP n ... instead")
        if self.tok.kind != "EOF":
            self.fail(f"did not expect {describe(self.tok)} here; the query should end before it")
        return q

    def query_specification(self) -> A.Query:
        t = self.tok
        ctes: list[tuple[A.Ident, A.Query]] = []
        if self.accept_kw("WITH"):
            while True:
                name = self.ident("a name for the WITH query")
                self.expect_kw("AS")
                self.expect_op("(")
                ctes.append((name, self.select_expression()))
                self.expect_op(")")
                if not self.accept_op(","):
                    break
        q = self.select_expression()
        q.ctes = ctes
        q.line, q.col = t.line, t.col
        return q

    def select_expression(self) -> A.Query:
        t = self.tok
        if self.is_kw("WITH"):
            self.fail("WITH is only allowed at the very start of the query")
        body = self.set_expression()
        q = A.Query(body, line=t.line, col=t.col)
        if self.accept_kw("ORDER"):
            self.expect_kw("BY")
            q.order_by.append(self.order_item())
            while self.accept_op(","):
                q.order_by.append(self.order_item())
        if self.accept_kw("OFFSET"):
            q.offset = self.unsigned_int("OFFSET")
        return q

    def order_item(self) -> A.OrderItem:
        e = self.expr()
        desc = False
        if self.accept_kw("DESC"):
            desc = True
        else:
            self.accept_kw("ASC")
        return A.OrderItem(e, desc)

    def set_expression(self) -> A.QueryBody:
        left = self.set_term()
        while self.is_kw("UNION", "EXCEPT"):
            t = self.next()
            all_ = self.accept_kw("ALL")
            right = self.set_term()
            left = A.SetOp(t.value, all_, left, right, t.line, t.col)
        return left

    def set_term(self) -> A.QueryBody:
        left = self.set_primary()
        while self.is_kw("INTERSECT"):
            t = self.next()
            all_ = self.accept_kw("ALL")
            right = self.set_primary()
            left = A.SetOp("INTERSECT", all_, left, right, t.line, t.col)
        return left

    def set_primary(self) -> A.QueryBody:
        if self.is_op("("):
            self.next()
            q = self.nested(self.select_expression)
            self.expect_op(")")
            assert isinstance(q, A.Query)
            return q
        if self.is_kw("SELECT"):
            return self.select()
        self.expected("SELECT")

    def select(self) -> A.Select:
        t = self.expect_kw("SELECT")
        quant = None
        if self.is_kw("DISTINCT", "ALL"):
            quant = self.next().value
        top = None
        if self.accept_kw("TOP"):
            top = self.unsigned_int("TOP")
            if self.is_kw("DISTINCT", "ALL"):
                self.fail(f"{self.tok.value} comes before TOP: write SELECT {self.tok.value} TOP {top} ...")
        if self.is_kw("FROM"):
            self.fail("nothing selected: name at least one column (or *) before FROM")
        items = [self.select_item()]
        while self.accept_op(","):
            if self.is_kw("FROM"):
                self.fail("a column is missing after the last ','; remove the comma before FROM")
            items.append(self.select_item())
        if not self.is_kw("FROM"):
            self.expected("FROM (or ',' and another column)" if self.tok.kind == "EOF"
                          else "',' or FROM")
        self.next()
        from_ = [self.table_ref()]
        while self.accept_op(","):
            from_.append(self.table_ref())
        where = self.condition() if self.accept_kw("WHERE") else None
        group: list[A.Expr] = []
        if self.accept_kw("GROUP"):
            self.expect_kw("BY")
            group.append(self.expr())
            while self.accept_op(","):
                group.append(self.expr())
        having = self.condition() if self.accept_kw("HAVING") else None
        return A.Select(quant, top, items, from_, where, group, having, t.line, t.col)

    def select_item(self) -> A.SelectItem:
        t = self.tok
        if self.accept_op("*"):
            return A.SelectItem(A.Star(None, t.line, t.col), None)
        if self.is_qualified_star():
            parts = [self.ident()]
            while self.accept_op("."):
                if self.accept_op("*"):
                    break
                parts.append(self.ident())
            return A.SelectItem(A.Star(parts, t.line, t.col), None)
        if self.is_op(","):
            self.fail("a column is missing before ','")
        e = self.expr()
        alias = None
        if self.accept_kw("AS"):
            alias = self.ident("a name after AS")
        elif self.tok.kind in ("ID", "QID"):
            alias = self.ident()
        return A.SelectItem(e, alias)

    def is_qualified_star(self) -> bool:
        j = self.i
        while self.toks[j].kind in ("ID", "QID") and self.toks[j + 1].value == ".":
            if self.toks[j + 2].kind == "OP" and self.toks[j + 2].value == "*":
                return True
            j += 2
        return False

    # ---- FROM -----------------------------------------------------------

    def table_ref(self) -> A.TableRef:
        left = self.table_primary()
        while self.is_kw(*_JOIN_START):
            left = self.join(left)
        return left

    def join(self, left: A.TableRef) -> A.Join:
        t = self.tok
        natural = self.accept_kw("NATURAL")
        kind = None
        if self.is_kw("INNER", "LEFT", "RIGHT", "FULL"):
            kind = self.next().value
            if kind != "INNER":
                self.accept_kw("OUTER")
        self.expect_kw("JOIN")
        right = self.table_primary()
        on = None
        using = None
        if self.accept_kw("ON"):
            on = self.condition()
        elif self.accept_kw("USING"):
            self.expect_op("(")
            using = [self.ident("a column name")]
            while self.accept_op(","):
                using.append(self.ident("a column name"))
            self.expect_op(")")
        elif kind == "INNER" and not natural and not isinstance(right, A.Join):
            self.fail("INNER JOIN needs a join condition: ON ... or USING (...)")
        if natural and (on is not None or using is not None):
            self.fail("a NATURAL JOIN takes no ON or USING", t)
        return A.Join(left, right, natural, kind, on, using, t.line, t.col)

    def table_primary(self) -> A.TableRef:
        t = self.tok
        if self.is_op("("):
            j = self.i
            while self.toks[j].kind == "OP" and self.toks[j].value == "(":
                j += 1
            if self.toks[j].kind == "KW" and self.toks[j].value in ("SELECT", "WITH"):
                self.next()
                q = self.nested(self.select_expression)
                assert isinstance(q, A.Query)
                self.expect_op(")")
                self.accept_kw("AS")
                if self.tok.kind not in ("ID", "QID"):
                    self.fail("a subquery in FROM needs a name, as in (SELECT ...) AS sub")
                return A.Derived(q, self.ident(), t.line, t.col)
            self.next()
            inner = self.nested(self.table_ref)
            self.expect_op(")")
            assert isinstance(inner, (A.TableName, A.Derived, A.Join))
            return inner
        if self.tok.kind not in ("ID", "QID"):
            self.expected("a table name")
        parts = [self.ident()]
        while self.accept_op("."):
            parts.append(self.ident("a name after '.'"))
        if len(parts) > 3:
            self.fail("a table name has at most three parts: catalog.schema.table", t)
        alias = None
        if self.accept_kw("AS"):
            alias = self.ident("a name after AS")
        elif self.tok.kind in ("ID", "QID") and not self.is_limit():
            alias = self.ident()
        return A.TableName(parts, alias, t.line, t.col)

    def is_limit(self) -> bool:
        """LIMIT n (not ADQL) is reported as such, not taken for an alias."""
        return self.tok.kind == "ID" and self.tok.value.upper() == "LIMIT" and self.peek().kind == "INT"

    # ---- conditions -----------------------------------------------------

    def condition(self) -> A.Cond:
        r = self.nested(self._or)
        return r  # type: ignore[return-value]

    def _or(self) -> A.Cond:
        left = self._and()
        while self.is_kw("OR"):
            t = self.next()
            left = A.BoolOp("OR", left, self._and(), t.line, t.col)
        return left

    def _and(self) -> A.Cond:
        left = self._not()
        while self.is_kw("AND"):
            t = self.next()
            left = A.BoolOp("AND", left, self._not(), t.line, t.col)
        return left

    def _not(self) -> A.Cond:
        if self.is_kw("NOT"):
            t = self.next()
            return A.Not(self._not(), t.line, t.col)
        if self.is_op("(") and self.paren_holds_condition():
            self.next()
            c = self.condition()
            self.expect_op(")")
            return c
        return self.predicate()

    def paren_holds_condition(self) -> bool:
        """At "(": does the bracket hold a condition (not a value)?"""
        depth, j = 0, self.i
        while True:
            t = self.toks[j]
            if t.kind == "EOF":
                return True
            if t.kind == "OP" and t.value == "(":
                depth += 1
            elif t.kind == "OP" and t.value == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        after = self.toks[j + 1] if j + 1 < len(self.toks) else self.toks[-1]
        if after.kind == "OP" and after.value in _VALUE_FOLLOWERS:
            return False
        return not (after.kind == "KW" and after.value in _PREDICATE_KEYWORDS)

    def predicate(self) -> A.Cond:
        t = self.tok
        if self.accept_kw("EXISTS"):
            if not self.is_op("("):
                self.fail("EXISTS needs a subquery in brackets: EXISTS (SELECT ...)")
            return A.Exists(self.subquery(), t.line, t.col)
        left = self.expr()
        op = self.tok
        if op.kind == "OP" and op.value in COMPARISONS:
            self.next()
            right = self.expr()
            return A.Compare("<>" if op.value == "!=" else op.value, left, right, op.line, op.col)
        if self.accept_kw("IS"):
            neg = self.accept_kw("NOT")
            self.expect_kw("NULL")
            return A.IsNull(left, neg, op.line, op.col)
        neg = self.accept_kw("NOT")
        if self.accept_kw("BETWEEN"):
            low = self.expr()
            self.expect_kw("AND")
            return A.Between(left, low, self.expr(), neg, op.line, op.col)
        if self.accept_kw("IN"):
            return self.in_predicate(left, neg, op)
        if self.is_kw("LIKE", "ILIKE"):
            ilike = self.next().value == "ILIKE"
            return A.Like(left, self.expr(), neg, ilike, op.line, op.col)
        if neg:
            self.expected("BETWEEN, IN, LIKE or ILIKE after NOT")
        if isinstance(left, A.Func) and left.name in ("CONTAINS", "INTERSECTS"):
            self.fail(f"{left.name} gives 1 or 0: compare it, as in 1 = {left.name}(...)",
                      Token("KW", "", left.line, left.col, 0))
        self.expected("a comparison (=, <, >, LIKE, IN, BETWEEN, IS NULL ...)")

    def in_predicate(self, left: A.Expr, neg: bool, op: Token) -> A.InList:
        if not self.is_op("("):
            self.fail("IN needs a list in brackets, as in IN (1, 2) or IN (SELECT ...)")
        if self.peek().kind == "KW" and self.peek().value == "SELECT":
            return A.InList(left, None, self.subquery(), neg, op.line, op.col)
        self.next()
        items = [self.expr()]
        while self.accept_op(","):
            items.append(self.expr())
        self.expect_op(")")
        return A.InList(left, items, None, neg, op.line, op.col)

    def subquery(self) -> A.Query:
        self.expect_op("(")
        q = self.nested(self.select_expression)
        self.expect_op(")")
        assert isinstance(q, A.Query)
        return q

    # ---- value expressions ----------------------------------------------

    def expr(self) -> A.Expr:
        r = self.nested(self._concat)
        return r  # type: ignore[return-value]

    def _concat(self) -> A.Expr:
        left = self._sum()
        while self.is_op("||"):
            t = self.next()
            right = self._sum()
            left = A.Binary("||", _operand(left), _operand(right), t.line, t.col)
        return left

    def _sum(self) -> A.Expr:
        left = self._term()
        while self.is_op("+", "-"):
            t = self.next()
            right = self._term()
            left = A.Binary(t.value, _operand(left), _operand(right), t.line, t.col)
        return left

    def _term(self) -> A.Expr:
        left = self._factor()
        while self.is_op("*", "/"):
            t = self.next()
            right = self._factor()
            left = A.Binary(t.value, _operand(left), _operand(right), t.line, t.col)
        return left

    def _factor(self) -> A.Expr:
        if self.is_op("-", "+"):
            t = self.next()
            inner = self.nested(self._factor)
            assert not isinstance(inner, (A.BoolOp, A.Not))
            return A.Unary(t.value, _operand(inner), t.line, t.col)  # type: ignore[arg-type]
        return self.primary()

    def primary(self) -> A.Expr:
        t = self.tok
        k = t.kind
        if k in ("INT", "NUM", "HEX", "STR"):
            self.i += 1
            return A.Literal(k.lower(), t.value, t.line, t.col)
        if k == "OP" and t.value == "(":
            if self.peek().kind == "KW" and self.peek().value == "SELECT":
                self.fail("a subquery can only be used in FROM, IN (...) or EXISTS (...)")
            self.i += 1
            inner = self.expr()
            self.expect_op(")")
            return A.Paren(inner, t.line, t.col)
        if k == "ID" and self.peek().kind == "OP" and self.peek().value == "(":
            self.i += 1
            return A.Func(t.value, self.call_args(t), "udf", False, t.line, t.col)
        if k in ("ID", "QID"):
            return self.column_ref()
        if k == "KW":
            return self.keyword_primary(t)
        self.expected("a value (a column, a number, a string or a function)")

    def column_ref(self) -> A.ColumnRef:
        t = self.tok
        parts = [self.ident()]
        while self.accept_op("."):
            if self.is_op("*"):
                self.fail("'.*' is only allowed in the list of selected columns")
            parts.append(self.ident("a name after '.'"))
        if len(parts) > 4:
            self.fail("a column name has at most four parts: catalog.schema.table.column", t)
        return A.ColumnRef(parts, t.line, t.col)

    def call_args(self, name: Token) -> list[A.Expr]:
        self.expect_op("(")
        args: list[A.Expr] = []
        if not self.is_op(")"):
            args.append(self.expr())
            while self.accept_op(","):
                args.append(self.expr())
        self.expect_op(")")
        return args

    def keyword_primary(self, t: Token) -> A.Expr:
        w = t.value
        if w == "NULL":
            self.i += 1
            return A.Literal("null", "NULL", t.line, t.col)
        if w in ("CAST", "CASE", "IN_UNIT", "COALESCE") or w in AGGREGATES:
            self.i += 1
            return _SPECIAL[w if w not in AGGREGATES else "AGG"](self, t)
        if w in MATH_FUNCTIONS or w in GEOM_FUNCTIONS or w in CONSTRUCTORS or w in (
                "LOWER", "UPPER"):
            if not (self.peek().kind == "OP" and self.peek().value == "("):
                self.fail(f"{w.lower()} is a reserved word; if it is a column name, write it in "
                          f'double quotes: "{w.lower()}"')
            self.i += 1
            args = self.call_args(t)
            return _builtin(w, args, t)
        if w in SQL_ONLY_FUNCTIONS and self.peek().kind == "OP" and self.peek().value == "(":
            self.fail(f"{w} is SQL but not ADQL; {SQL_ONLY_FUNCTIONS[w]}")
        self.fail(f"{w.lower()} is a reserved word and cannot be used here; if it is a name, "
                  f'write it in double quotes: "{w.lower()}"')

    def aggregate(self, t: Token) -> A.Expr:
        self.expect_op("(")
        if t.value == "COUNT" and self.is_op("*"):
            s = self.next()
            self.expect_op(")")
            return A.Func("COUNT", [A.Star(None, s.line, s.col)], "agg", False, t.line, t.col)
        distinct = False
        if self.is_kw("DISTINCT", "ALL"):
            distinct = self.next().value == "DISTINCT"
        arg = self.expr()
        self.expect_op(")")
        return A.Func(t.value, [arg], "agg", distinct, t.line, t.col)

    def cast(self, t: Token) -> A.Expr:
        self.expect_op("(")
        e = self.expr()
        self.expect_kw("AS")
        ty = self.tok
        length = None
        if self.accept_kw("DOUBLE"):
            self.expect_kw("PRECISION")
            name = "DOUBLE"
        elif self.is_kw("CHAR", "VARCHAR"):
            name = self.next().value
            if self.accept_op("("):
                length = self.unsigned_int("a string length")
                self.expect_op(")")
        elif self.is_kw(*CAST_TYPES):
            name = self.next().value
        else:
            self.fail(f"cannot CAST to {describe(ty)}; the types are SMALLINT, INTEGER, BIGINT, "
                      "REAL, DOUBLE PRECISION, CHAR(n), VARCHAR(n), TIMESTAMP, POINT, CIRCLE "
                      "and POLYGON")
        self.expect_op(")")
        return A.Cast(e, name, length, t.line, t.col)

    def case(self, t: Token) -> A.Expr:
        operand = None if self.is_kw("WHEN") else self.expr()
        whens: list[tuple[A.Expr | A.Cond, A.Expr]] = []
        while self.accept_kw("WHEN"):
            cond: A.Expr | A.Cond = self.expr() if operand is not None else self.condition()
            self.expect_kw("THEN")
            whens.append((cond, self.expr()))
        if not whens:
            self.expected("WHEN")
        default = self.expr() if self.accept_kw("ELSE") else None
        self.expect_kw("END")
        return A.Case(operand, whens, default, t.line, t.col)

    def in_unit(self, t: Token) -> A.Expr:
        self.expect_op("(")
        e = self.expr()
        self.expect_op(",")
        u = self.tok
        if u.kind != "STR":
            self.fail("the unit in IN_UNIT must be a string, as in IN_UNIT(ra, 'rad')")
        self.next()
        self.expect_op(")")
        return A.Func("IN_UNIT", [e, A.Literal("str", u.value, u.line, u.col)], "unit",
                      False, t.line, t.col)

    def coalesce(self, t: Token) -> A.Expr:
        args = self.call_args(t)
        if not args:
            self.fail("COALESCE needs at least one argument", t)
        return A.Func("COALESCE", args, "coalesce", False, t.line, t.col)


_SPECIAL: dict[str, Callable[[Parser, Token], A.Expr]] = {
    "CAST": Parser.cast, "CASE": Parser.case, "IN_UNIT": Parser.in_unit,
    "COALESCE": Parser.coalesce, "AGG": Parser.aggregate,
}


def _is_geometry(e: A.Expr) -> bool:
    return isinstance(e, A.Geom) or (isinstance(e, A.Func) and e.name == "CENTROID")


def _operand(e: A.Expr) -> A.Expr:
    """Geometries have no arithmetic or string concatenation."""
    if _is_geometry(e):
        name = e.name if isinstance(e, (A.Geom, A.Func)) else "geometry"
        raise AdqlError(f"a {name} cannot be used in arithmetic or with ||", e.line, e.col)
    return e


def _arity_error(name: str, lo: int, hi: int, t: Token) -> NoReturn:
    want = str(lo) if lo == hi else f"{lo} to {hi}"
    raise AdqlError(f"{name} takes {want} argument{'s' if hi != 1 else ''}", t.line, t.col)


def _builtin(name: str, args: list[A.Expr], t: Token) -> A.Expr:
    if name in CONSTRUCTORS:
        return _constructor(name, args, t)
    if name in ("LOWER", "UPPER"):
        if len(args) != 1:
            _arity_error(name, 1, 1, t)
        return A.Func(name, args, "string", False, t.line, t.col)
    kind, table = ("math", MATH_FUNCTIONS) if name in MATH_FUNCTIONS else ("geom", GEOM_FUNCTIONS)
    lo, hi = table[name]
    if not lo <= len(args) <= hi or (name == "DISTANCE" and len(args) == 3):
        if name == "DISTANCE":
            raise AdqlError("DISTANCE takes two points or four coordinates", t.line, t.col)
        _arity_error(name, lo, hi, t)
    return A.Func(name, args, kind, False, t.line, t.col)


def _is_coordsys(e: A.Expr) -> bool:
    return isinstance(e, A.Literal) and e.kind in ("str", "null")


def _is_numeric_literal(e: A.Expr) -> bool:
    return (isinstance(e, A.Literal) and e.kind in ("int", "num", "hex")) or (
        isinstance(e, A.Unary) and _is_numeric_literal(e.operand))


def _constructor(name: str, args: list[A.Expr], t: Token) -> A.Geom:
    if name == "REGION":
        if len(args) != 1 or not (isinstance(args[0], A.Literal) and args[0].kind == "str"):
            raise AdqlError("REGION takes one string, as in REGION('Circle ICRS 10 20 1')",
                            t.line, t.col)
        return A.Geom(name, None, args, t.line, t.col)
    coordsys = None
    # The coordinate system is optional; a string or NULL first argument is one.
    full = {"POINT": 3, "CIRCLE": 4, "BOX": 5}.get(name)
    if args and (_is_coordsys(args[0]) or len(args) == full):
        coordsys, args = args[0], args[1:]
    shapes = {"POINT": (2,), "CIRCLE": (3, 2), "BOX": (4, 3)}
    if name == "CIRCLE" and len(args) == 2 and all(_is_numeric_literal(a) for a in args):
        raise AdqlError("the CIRCLE has no radius: write CIRCLE('ICRS', ra, dec, radius)", t.line, t.col)
    if name == "BOX" and len(args) in (2, 3) and all(_is_numeric_literal(a) for a in args):
        raise AdqlError("the BOX needs a width and a height: write BOX('ICRS', ra, dec, width, height)",
                        t.line, t.col)
    if name == "POLYGON":
        _polygon_args(args, t)
    elif len(args) not in shapes[name]:
        forms = {"POINT": "POINT('ICRS', ra, dec)",
                 "CIRCLE": "CIRCLE('ICRS', ra, dec, radius) or CIRCLE('ICRS', point, radius)",
                 "BOX": "BOX('ICRS', ra, dec, width, height)"}
        raise AdqlError(f"wrong number of arguments for {name}; write {forms[name]}",
                        t.line, t.col)
    elif len(args) == shapes[name][-1] and name != "POINT" and _is_numeric_literal(args[0]):
        raise AdqlError(f"the centre of a {name} must be a POINT, or give two coordinates",
                        args[0].line, args[0].col)
    for a in args:
        if isinstance(a, A.Geom) and not (a.name == "POINT" and name != "POINT"):
            raise AdqlError(f"a {a.name} cannot be a coordinate of a {name}", a.line, a.col)
    return A.Geom(name, coordsys, args, t.line, t.col)


def _polygon_args(args: list[A.Expr], t: Token) -> None:
    as_points = len(args) % 2 == 1 or len(args) < 6
    if len(args) < 3:
        raise AdqlError("a POLYGON needs at least three vertices", t.line, t.col)
    if as_points and any(_is_numeric_literal(a) for a in args):
        raise AdqlError("a POLYGON needs pairs of coordinates (an even number, at least six) "
                        "or at least three points", t.line, t.col)


def parse(text: str) -> A.Query:
    """Parse ADQL text into a syntax tree; AdqlError says what and where."""
    if not isinstance(text, str):
        raise AdqlError("the query must be text")
    if not text.strip():
        raise AdqlError("the query is empty")
    try:
        return Parser(text).statement()
    except RecursionError:
        raise AdqlError("the query is nested too deeply") from None
