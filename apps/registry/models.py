"""What the registry remembers of each record it published: dates, deletion, and what the publisher adds.

The records themselves are built afresh from the metadata (records.py); a row here keeps
the ``created``/``updated`` dates stable (``updated`` moves only when the content's digest
changes) and lets a record that disappeared (a table unpublished) be harvested as deleted.
"""

from __future__ import annotations

from django.db import models

from apps.metadata.models import Table


class RegistryRecord(models.Model):
    identifier = models.CharField(max_length=255, unique=True)
    table = models.ForeignKey(Table, null=True, blank=True, on_delete=models.SET_NULL, related_name="registry_records")
    subjects = models.JSONField(default=list, blank=True,
                                help_text='Keywords from the IVOA/UAT vocabulary, e.g. ["stars", "astrometry"].')
    short_name = models.CharField(max_length=16, blank=True, help_text="At most 16 characters, shown in registry lists.")
    digest = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(editable=False)
    updated = models.DateTimeField(editable=False)
    deleted = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["updated", "identifier"]

    def __str__(self) -> str:
        return self.identifier


class TableCoverage(models.Model):
    """A positional table's sky coverage (IVOA MOC 2.0), computed from its rows when it is published."""

    table = models.OneToOneField(Table, on_delete=models.CASCADE, related_name="coverage")
    order = models.PositiveSmallIntegerField(help_text="The deepest HEALPix order of the MOC's cells.")
    moc = models.TextField(help_text="ASCII serialisation (MOC 2.0), ICRS.")
    sky_fraction = models.FloatField()
    rows = models.BigIntegerField(help_text="Positions it was computed from.")
    computed = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"MOC of {self.table}"

    @property
    def area_deg2(self) -> float:
        return self.sky_fraction * 41252.96124941928
