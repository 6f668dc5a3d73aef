"""ADQL 2.1: parse, validate against metadata, translate to engine SQL.

Pure Python; no Django import here (only the management command uses it).
"""

from .ast import Query
from .catalog import Catalog, ColumnInfo, FunctionInfo, TableInfo
from .errors import AdqlError
from .parser import parse

__all__ = ["AdqlError", "Catalog", "ColumnInfo", "FunctionInfo", "Query", "TableInfo", "parse"]
