"""What publishers describe: schemas, tables, columns and user-defined functions.

Who may see (``read``) and query (``query``) a schema or table is decided by
privileges on its access.Resource; the access levels below are kept in sync
with privileges of the built-in groups (see actions.do_set_access_level):
public = the ``Anyone`` group, internal = the ``Public`` group (every
logged-in user), private = only the owner and whom it is shared with.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models

from apps.access.models import Resource

from .validators import validate_doi, validate_identifier, validate_licence, validate_ucd, validate_vounit

PUBLIC, INTERNAL, PRIVATE = "public", "internal", "private"
ACCESS_LEVELS = [(PUBLIC, "Public: anyone, also anonymous"), (INTERNAL, "Internal: every logged-in user"), (PRIVATE, "Private: owner and shares")]
OPENNESS = {PRIVATE: 0, INTERNAL: 1, PUBLIC: 2}

# ADQL types (TAP 1.1 / VOTable 1.4 with xtypes) a column may have.
DATATYPES = ["BOOLEAN", "SMALLINT", "INTEGER", "BIGINT", "REAL", "DOUBLE", "CHAR", "VARCHAR", "TIMESTAMP", "BINARY", "VARBINARY",
             "POINT", "CIRCLE", "POLYGON", "REGION", "CLOB", "BLOB"]
TABLE, VIEW = "table", "view"
HATS_INDEX_COLUMN = "_healpix_29"  # workers/engines/hats.py HEALPIX_COLUMN


class Described(models.Model):
    """Fields shared by schemas and tables."""

    title = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    utype = models.CharField(max_length=255, blank=True)
    order = models.IntegerField(default=0, help_text="Position in lists; lower first.")
    published = models.BooleanField(default=False, db_index=True, help_text="Shown in TAP_SCHEMA, VOSI and the browse pages.")
    access_level = models.CharField(max_length=10, choices=ACCESS_LEVELS, default=PRIVATE,
                                    help_text="Who may query the data.")
    metadata_access_level = models.CharField(max_length=10, choices=ACCESS_LEVELS, default=PRIVATE,
                                             help_text="Who may see the description; never narrower than the data's level.")
    resource = models.OneToOneField(Resource, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @property
    def effective_metadata_level(self) -> str:
        """Whoever may query may also read the description."""
        levels = (self.access_level, self.metadata_access_level)
        return max(levels, key=OPENNESS.__getitem__)


class Schema(Described):
    name = models.CharField(max_length=64, unique=True, validators=[validate_identifier])
    engine = models.CharField(max_length=20, choices=[(e, e) for e in settings.ENGINES], default=settings.DEFAULT_ENGINE,
                              help_text="The engine that holds this schema's tables.")

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class Table(Described):
    TYPES = [(TABLE, "Table"), (VIEW, "View")]

    schema = models.ForeignKey(Schema, on_delete=models.CASCADE, related_name="tables")
    name = models.CharField(max_length=64, validators=[validate_identifier])
    type = models.CharField(max_length=10, choices=TYPES, default=TABLE)
    row_count = models.BigIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    licence = models.CharField(max_length=255, blank=True, validators=[validate_licence],
                               help_text="An SPDX identifier (CC-BY-4.0, CC0-1.0, ODbL-1.0, …) or the URL of the licence text.")
    doi = models.CharField("DOI", max_length=255, blank=True, validators=[validate_doi], help_text="Bare, e.g. 10.5281/zenodo.1234567")
    citation = models.TextField(blank=True, help_text="How to cite these data.")
    creators = models.JSONField(default=list, blank=True,
                                help_text='DataCite-style: [{"name": "Doe, Jane", "affiliation": "...", "orcid": "..."}]')
    published_on = models.DateField(null=True, blank=True, help_text="Date of first publication.")
    data_updated_on = models.DateField(null=True, blank=True, help_text="Date the data last changed.")
    position_columns = models.JSONField(null=True, blank=True,
                                        help_text='[ra column, dec column] (ICRS degrees) for cone search, e.g. ["ra", "dec"].')
    # Where rows sit on the sky beyond their positions (apps.adql SkyIndex), for pruning and planned joins:
    # a column holding a NESTED HEALPix index (value >> shift = pixel at order), and the Norder values of a
    # table stored in the HATS layout (set by ingest and discovery from the files, not by hand).
    healpix_column = models.CharField("HEALPix index column", max_length=64, blank=True,
                                      help_text="A BIGINT column holding a NESTED HEALPix index, e.g. Gaia's source_id "
                                                "(order 12, shift 35); _healpix_29 in HATS catalogues. Needs position columns.")
    healpix_order = models.PositiveSmallIntegerField("HEALPix order", default=29, validators=[MaxValueValidator(29)],
                                                     help_text="The order of the pixel the column holds (after the shift).")
    healpix_shift = models.PositiveSmallIntegerField("HEALPix shift", default=0, validators=[MaxValueValidator(63)],
                                                     help_text="Bits to drop from the column's value to get the pixel (Gaia source_id: 35).")
    partition_orders = models.JSONField(default=list, blank=True, editable=False,
                                        help_text="Norder values of the HATS partitions (empty: a plain table).")
    withdrawn = models.BooleanField(default=False, editable=False,
                                    help_text="Hidden from everyone (embargo, legal reasons); the data is kept until deleted.")

    class Meta:
        ordering = ["schema__order", "schema__name", "order", "name"]
        constraints = [models.UniqueConstraint(fields=["schema", "name"], name="one_table_name_per_schema")]

    def __str__(self) -> str:
        return self.qualified_name

    @property
    def qualified_name(self) -> str:
        return f"{self.schema.name}.{self.name}"

    def clean(self) -> None:
        super().clean()
        if self.creators and not (isinstance(self.creators, list) and all(isinstance(c, dict) and c.get("name") for c in self.creators)):
            raise ValidationError({"creators": 'Creators are a list of objects with at least a "name".'})
        pos = self.position_columns
        if pos is not None and not (isinstance(pos, list) and len(pos) == 2 and all(isinstance(p, str) and p for p in pos)):
            raise ValidationError({"position_columns": 'Give two column names: ["ra", "dec"].'})
        if pos and self.pk:
            names = set(self.columns.values_list("name", flat=True))
            missing = [p for p in pos if p not in names]
            if names and missing:
                raise ValidationError({"position_columns": f"No such column: {', '.join(missing)}."})
        self._clean_healpix()

    def _clean_healpix(self) -> None:
        """The index column must exist, be BIGINT and fit its order and shift in 64 bits."""
        name = self.healpix_column
        if not name:
            return
        if not self.position_columns:
            raise ValidationError({"healpix_column": "Give the position columns too: the index says where the positions are."})
        if self.healpix_shift + 2 * self.healpix_order > 63:
            raise ValidationError({"healpix_shift": f"Order {self.healpix_order} with a shift of {self.healpix_shift} "
                                                    "does not fit a 64-bit index (shift + 2 * order <= 63)."})
        if not self.pk or (name == HATS_INDEX_COLUMN and self.partition_orders):
            return  # a HATS table's index column is a storage column, not one of its published columns
        column = self.columns.filter(name=name).first()
        if column is None:
            raise ValidationError({"healpix_column": f"No such column: {name}."})
        if column.datatype != "BIGINT":
            raise ValidationError({"healpix_column": f"{name} is {column.datatype}; a HEALPix index column must be BIGINT."})


class Column(models.Model):
    table = models.ForeignKey(Table, on_delete=models.CASCADE, related_name="columns")
    name = models.CharField(max_length=64, validators=[validate_identifier])
    order = models.IntegerField(default=0)
    datatype = models.CharField(max_length=20, choices=[(d, d) for d in DATATYPES], default="DOUBLE")
    arraysize = models.CharField(max_length=20, blank=True, help_text="VOTable arraysize: '*', '16', '16*'; empty for scalars.")
    xtype = models.CharField(max_length=30, blank=True, help_text="e.g. timestamp, point, circle, polygon")
    unit = models.CharField(max_length=100, blank=True, validators=[validate_vounit], help_text="VOUnit, e.g. deg, mas/yr, mag")
    ucd = models.CharField("UCD", max_length=200, blank=True, validators=[validate_ucd], help_text="UCD1+, e.g. pos.eq.ra;meta.main")
    utype = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    principal = models.BooleanField(default=False, help_text="Shown by default (TAP principal).")
    indexed = models.BooleanField(default=False)
    std = models.BooleanField(default=False, help_text="Defined by a standard (TAP std).")
    access_level = models.CharField(max_length=10, choices=ACCESS_LEVELS, default=PUBLIC,
                                    help_text="Narrows the table's level for this column (e.g. an internal-only column).")

    class Meta:
        ordering = ["table", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["table", "name"], name="one_column_name_per_table")]

    def __str__(self) -> str:
        return f"{self.table_id}.{self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Units and UCDs are refused here too, not only in forms: fixtures, commands and actions save directly.
        validate_vounit(self.unit)
        validate_ucd(self.ucd)
        super().save(*args, **kwargs)


class Function(models.Model):
    """A user-defined ADQL function; ``sql`` maps an engine's dialect to a name or template ({0}, {1}, {args})."""

    name = models.CharField(max_length=64, unique=True, validators=[validate_identifier])
    return_type = models.CharField(max_length=20, choices=[(d, d) for d in DATATYPES], default="DOUBLE")
    signature = models.CharField(max_length=255, blank=True, help_text="For documentation: ivo_healpix_index(order INTEGER, ra DOUBLE, dec DOUBLE)")
    description = models.TextField(blank=True)
    sql = models.JSONField(default=dict, blank=True, help_text='{"duckdb": "...", "postgresql": "..."}')
    published = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IngestRun(models.Model):
    """One ingest started in the admin console: followed while it runs, listed afterwards with its outcome."""

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATES = [(QUEUED, "queued"), (RUNNING, "running"), (DONE, "done"), (FAILED, "failed")]

    id = models.CharField(max_length=32, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField("file", max_length=255)
    target = models.CharField(max_length=140, help_text="schema.table")
    state = models.CharField(max_length=10, choices=STATES, default=QUEUED, db_index=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    report = models.JSONField(default=dict, blank=True, help_text="Bad cells loaded as NULL: {count, cells: [{line, column, value}]}.")
    table = models.ForeignKey(Table, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} → {self.target} ({self.state})"
