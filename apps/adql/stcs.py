"""STC-S regions for ADQL's REGION('...'): the shapes and the boolean combinations.

Reads the subset of STC-S (IVOA STC-S 1.0, as TAP services take it) that ADQL
geometry can express: ``Position``, ``Circle``, ``Box``, ``Polygon``, and
``Union``/``Intersection`` of regions and ``Not`` of one, each with an optional
frame (``ICRS``, ``FK5``, ``GALACTIC`` ...), reference position and flavor.
Coordinates are degrees; like the geometry constructors, frames are not converted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import AdqlError

SHAPES = {"POSITION": (2, 2), "CIRCLE": (3, 3), "BOX": (4, 4), "POLYGON": (6, 10**6)}
COMPOUNDS = ("UNION", "INTERSECTION", "NOT")
FRAMES = frozenset({"ICRS", "FK4", "FK5", "J2000", "B1950", "ECLIPTIC", "GALACTIC", "GALACTIC_II",
                    "SUPER_GALACTIC", "GEO_C", "GEO_D", "UNKNOWNFRAME"})
REFPOS = frozenset({"BARYCENTER", "GEOCENTER", "HELIOCENTER", "LSR", "TOPOCENTER", "RELOCATABLE",
                    "UNKNOWNREFPOS"})
FLAVORS = frozenset({"SPHERICAL2", "CARTESIAN2", "UNITSPHERE"})


@dataclass(frozen=True)
class Shape:
    kind: str  # POSITION CIRCLE BOX POLYGON
    numbers: tuple[float, ...]
    frame: str


@dataclass(frozen=True)
class Compound:
    op: str  # UNION INTERSECTION NOT
    parts: tuple[Region, ...]


Region = Shape | Compound

_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z_][A-Za-z0-9_]*|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


class _Reader:
    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise AdqlError(f"cannot read the STC-S region at {text[pos:pos + 10]!r}")
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0

    def peek(self) -> str:
        return self.tokens[self.i] if self.i < len(self.tokens) else ""

    def take(self) -> str:
        t = self.peek()
        self.i += 1
        return t

    def region(self) -> Region:
        word = self.take().upper()
        if word in COMPOUNDS:
            self.frame()  # a frame on the combination applies to its parts, which name theirs
            if self.take() != "(":
                raise AdqlError(f"STC-S: {word.title()} needs its regions in brackets")
            parts = []
            while self.peek() not in (")", ""):
                parts.append(self.region())
            if self.take() != ")":
                raise AdqlError(f"STC-S: a ')' is missing after {word.title()}")
            want = (1, 1) if word == "NOT" else (2, 10**6)
            if not want[0] <= len(parts) <= want[1]:
                raise AdqlError(f"STC-S: {word.title()} takes {'one region' if word == 'NOT' else 'two or more regions'}")
            return Compound(word, tuple(parts))
        if word not in SHAPES:
            raise AdqlError(f"STC-S: unknown region {word or 'nothing'!r}; ADQL takes Position, Circle, Box, "
                            "Polygon, Union, Intersection and Not")
        frame = self.frame()
        numbers: list[float] = []
        while re.match(r"[-+.\d]", self.peek()):
            numbers.append(float(self.take()))
        lo, hi = SHAPES[word]
        if not lo <= len(numbers) <= hi or (word == "POLYGON" and len(numbers) % 2):
            raise AdqlError(f"STC-S: a {word.title()} takes {lo if lo == hi else 'pairs of'} numbers")
        return Shape(word, tuple(numbers), frame)

    def frame(self) -> str:
        frame = "ICRS"
        while self.peek().upper() in FRAMES | REFPOS | FLAVORS:
            word = self.take().upper()
            if word in FRAMES:
                frame = word
        return frame


def parse_region(text: str) -> Region:
    r = _Reader(text)
    region = r.region()
    if r.peek():
        raise AdqlError(f"STC-S: unexpected {r.peek()!r} after the region")
    return region


def frames(region: Region) -> set[str]:
    if isinstance(region, Shape):
        return {region.frame}
    return set().union(*(frames(p) for p in region.parts))
