"""Run the IVOA lyonetia ADQL corpus against the parser."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from . import ast as A
from .errors import AdqlError
from .parser import parse
from .translate import translate

# Names with the standard's default UDF prefix are accepted undeclared.
DEFAULT_UDF_PREFIX = "ivo_"


@dataclass(frozen=True)
class Case:
    file: str
    uuid: str
    query: str
    valid: bool
    functions: frozenset[str]


@dataclass(frozen=True)
class Outcome:
    case: Case
    accepted: bool
    error: str

    @property
    def passed(self) -> bool:
        return self.accepted == self.case.valid


def _declared(elem: ET.Element | None) -> set[str]:
    names: set[str] = set()
    if elem is None:
        return names
    for form in elem.iter("form"):
        text = (form.text or "").strip()
        if "(" in text:
            names.add(text.split("(", 1)[0].strip().lower())
    return names


def load_cases(root: Path) -> list[Case]:
    cases = []
    for path in sorted(root.rglob("*.xml")):
        doc = ET.parse(path).getroot()  # noqa: S314 -- the IVOA corpus on local disk
        file_funcs = _declared(doc.find("functions"))
        for q in doc.iter("query"):
            adql = q.find("adql")
            if adql is None:
                continue
            funcs = frozenset(file_funcs | _declared(q.find("functions")))
            cases.append(Case(str(path.relative_to(root)), q.get("uuid", ""), adql.text or "",
                              adql.get("valid", "false") == "true", funcs))
    return cases


def check_functions(tree: A.Query, declared: frozenset[str]) -> None:
    """Reject calls of user-defined functions nobody declared."""
    for node in A.walk(tree):
        if isinstance(node, A.Func) and node.kind == "udf":
            name = node.name.lower()
            if name not in declared and not name.startswith(DEFAULT_UDF_PREFIX):
                raise AdqlError(f"unknown function '{node.name}'", node.line, node.col)


def run_case(case: Case, dialect: str | None = None) -> Outcome:
    """Parse (and with ``dialect`` translate, without metadata) one query."""
    try:
        check_functions(parse(case.query), case.functions)
        if dialect is not None:
            translate(case.query, dialect)
    except AdqlError as e:
        return Outcome(case, False, str(e))
    except RecursionError:
        return Outcome(case, False, "nested too deeply")
    return Outcome(case, True, "")


def run_corpus(root: Path, dialect: str | None = None) -> list[Outcome]:
    return [run_case(c, dialect) for c in load_cases(root)]
