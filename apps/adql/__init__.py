"""ADQL 2.1: parse, validate against metadata, translate to engine SQL.

Pure Python; no Django import here (only the management command uses it).
"""

from .ast import Query
from .catalog import Catalog, ColumnInfo, FunctionInfo, SkyIndex, TableInfo
from .dialects import DIALECTS
from .errors import AdqlError
from .lexer import adql_name
from .native import translate_native
from .parser import parse
from .translate import Translation, translate

__all__ = [
    "DIALECTS",
    "AdqlError",
    "Catalog",
    "ColumnInfo",
    "FunctionInfo",
    "Query",
    "SkyIndex",
    "TableInfo",
    "Translation",
    "adql_name",
    "parse",
    "translate",
    "translate_native",
]
