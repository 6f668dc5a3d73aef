"""Tokeniser for ADQL: keywords, identifiers, literals, comments, positions."""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import AdqlError

SQL_RESERVED = frozenset("""
ABSOLUTE ACTION ADD ALL ALLOCATE ALTER AND ANY ARE AS ASC ASSERTION AT AUTHORIZATION AVG
BEGIN BETWEEN BIT BIT_LENGTH BOTH BY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER
CHAR_LENGTH CHARACTER_LENGTH CHECK CLOSE COALESCE COLLATE COLLATION COLUMN COMMIT CONNECT
CONNECTION CONSTRAINT CONSTRAINTS CONTINUE CONVERT CORRESPONDING COUNT CREATE CROSS CURRENT
CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DATE DAY DEALLOCATE DECIMAL
DECLARE DEFAULT DEFERRABLE DEFERRED DELETE DESC DESCRIBE DESCRIPTOR DIAGNOSTICS DISCONNECT
DISTINCT DOMAIN DOUBLE DROP ELSE END END-EXEC ESCAPE EXCEPT EXCEPTION EXEC EXECUTE EXISTS
EXTERNAL EXTRACT FALSE FETCH FIRST FLOAT FOR FOREIGN FOUND FROM FULL GET GLOBAL GO GOTO GRANT
GROUP HAVING HOUR IDENTITY IMMEDIATE IN INDICATOR INITIALLY INNER INPUT INSENSITIVE INSERT INT
INTEGER INTERSECT INTERVAL INTO IS ISOLATION JOIN KEY LANGUAGE LAST LEADING LEFT LEVEL LIKE
LOCAL LOWER MATCH MAX MIN MINUTE MODULE MONTH NAMES NATIONAL NATURAL NCHAR NEXT NO NOT NULL
NULLIF NUMERIC OCTET_LENGTH OF ON ONLY OPEN OPTION OR ORDER OUTER OUTPUT OVERLAPS PAD PARTIAL
POSITION PRECISION PREPARE PRESERVE PRIMARY PRIOR PRIVILEGES PROCEDURE PUBLIC READ REAL
REFERENCES RELATIVE RESTRICT REVOKE RIGHT ROLLBACK ROWS SCHEMA SCROLL SECOND SECTION SELECT
SESSION SESSION_USER SET SIZE SMALLINT SOME SPACE SQL SQLCODE SQLERROR SQLSTATE SUBSTRING SUM
SYSTEM_USER TABLE TEMPORARY THEN TIME TIMESTAMP TIMEZONE_HOUR TIMEZONE_MINUTE TO TRAILING
TRANSACTION TRANSLATE TRANSLATION TRIM TRUE UNION UNIQUE UNKNOWN UPDATE UPPER USAGE USER USING
VALUE VALUES VARCHAR VARYING VIEW WHEN WHENEVER WHERE WITH WORK WRITE YEAR ZONE
""".split())

ADQL_RESERVED = frozenset("""
ABS ACOS AREA ASIN ATAN ATAN2 BIGINT BOX CEILING CENTROID CIRCLE CONTAINS COORD1 COORD2
COORDSYS COS COT DEGREES DISTANCE EXP FLOOR ILIKE INTERSECTS IN_UNIT LOG LOG10 MOD OFFSET PI
POINT POLYGON POWER RADIANS REGION RAND ROUND SIN SQRT TOP TAN TRUNCATE
""".split())

RESERVED = SQL_RESERVED | ADQL_RESERVED


class Token(NamedTuple):
    kind: str  # KW ID QID INT NUM HEX STR OP EOF
    value: str  # KW: upper-case word; QID/STR: unescaped text; others: source text
    line: int
    col: int
    pos: int


_TOKEN_RE = re.compile(r"""
 (?P<ws>\s+)
|(?P<comment>--[^\n]*)
|(?P<hex>0[xX][0-9a-fA-F]+)
|(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
|(?P<word>[A-Za-z][A-Za-z0-9_]*)
|(?P<qid>"(?:[^"]|"")*")
|(?P<str>'(?:[^']|'')*')
|(?P<op><>|<=|>=|!=|\|\||[=<>+\-*/(),.;])
""", re.VERBOSE)


_OTHER_SQL = {
    "`": "backticks are not ADQL: delimit a name with double quotes, as in \"name\"",
    "%": "ADQL has no % operator: write MOD(a, b)",
    "^": "ADQL has no ^ operator: write POWER(a, b)",
    "[": "square brackets are not ADQL: delimit a name with double quotes, as in \"name\"",
    "&": "ADQL has no bitwise operators; for conditions write AND",
    "|": "ADQL has no bitwise operators; for conditions write OR, to join text write ||",
    "!": "ADQL writes 'not equal' as <> (or !=) and negation as NOT",
}


def _describe_bad_char(ch: str, rest: str) -> str:
    if rest.startswith("::"):
        return "'::' casts are not ADQL: write CAST(x AS type), e.g. CAST(x AS INTEGER)"
    if ch in _OTHER_SQL:
        return _OTHER_SQL[ch]
    if ch == '"':
        return "a double-quoted name is not closed (missing \")"
    if ch == "'":
        return "a string is not closed (missing ')"
    if ch == "_":
        return "names must start with a letter; put names like _x in double quotes"
    return f"unexpected character {ch!r}"


class _Cursor:
    """Turns a character offset into line and column quickly."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def place(self, pos: int) -> tuple[int, int]:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, pos - self.starts[lo] + 1


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text``, ending with an EOF token; AdqlError on junk."""
    cur = _Cursor(text)
    out: list[Token] = []
    pos, n = 0, len(text)
    match = _TOKEN_RE.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            line, col = cur.place(pos)
            raise AdqlError(_describe_bad_char(text[pos], text[pos:pos + 2]), line, col)
        kind = m.lastgroup
        assert kind is not None
        s = m.group()
        _check_token(kind, s, text, m.end(), cur, pos)
        if kind not in ("ws", "comment"):
            line, col = cur.place(pos)
            out.append(_make(kind, s, line, col, pos, out))
        pos = m.end()
    line, col = cur.place(n)
    out.append(Token("EOF", "", line, col, n))
    return _merge_strings(out)


def _check_token(kind: str, s: str, text: str, end: int, cur: _Cursor, pos: int) -> None:
    """Mistakes other SQL dialects allow and ADQL does not, named as such."""
    if kind == "op" and s == "/" and text.startswith("*", end):
        line, col = cur.place(pos)
        raise AdqlError("/* */ comments are not ADQL: comment a line with --", line, col)


def _make(kind: str, s: str, line: int, col: int, pos: int, prev: list[Token]) -> Token:
    if kind == "word":
        up = s.upper()
        return Token("KW" if up in RESERVED else "ID", up if up in RESERVED else s, line, col, pos)
    if kind == "num":
        return Token("INT" if s.isdigit() else "NUM", s, line, col, pos)
    if kind == "hex":
        return Token("HEX", s, line, col, pos)
    if kind == "qid":
        if len(s) == 2:
            raise AdqlError("empty double-quoted name", line, col)
        return Token("QID", s[1:-1].replace('""', '"'), line, col, pos)
    if kind == "str":
        return Token("STR", s[1:-1].replace("''", "'"), line, col, pos)
    return Token("OP", s, line, col, pos)


def _merge_strings(tokens: list[Token]) -> list[Token]:
    """SQL joins adjacent string literals separated only by blanks/comments."""
    out: list[Token] = []
    for t in tokens:
        if t.kind == "STR" and out and out[-1].kind == "STR":
            p = out[-1]
            out[-1] = Token("STR", p.value + t.value, p.line, p.col, p.pos)
        else:
            out.append(t)
    return out


_REGULAR = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def adql_name(name: str) -> str:
    """A name as an ADQL query must write it: reserved words and irregular names
    delimited (TAP 1.1 wants TAP_SCHEMA to list e.g. its own column as "size")."""
    if name.startswith('"') or (_REGULAR.match(name) and name.upper() not in RESERVED):
        return name
    return '"' + name.replace('"', '""') + '"'
