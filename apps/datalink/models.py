"""Link templates: what a publisher declares, per table, that a row links to (DataLink 1.1).

A template turns a row's identifier (the value of ``id_column``) into one link: an
external URL, a file in a data volume (served by the files API, so its permissions
apply), or a TAP query over another table. The ``{id}`` placeholder is filled with the
identifier, URL-encoded in URLs and paths and as an ADQL literal in queries.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from apps.files.models import Volume
from apps.metadata.models import Table

URL, FILE, TAP = "url", "file", "tap"
KINDS = [(URL, "A web address"), (FILE, "A file in a data volume"), (TAP, "An ADQL query on the TAP service")]
# Terms of the IVOA DataLink core vocabulary (http://www.ivoa.net/rdf/datalink/core). Newer terms (#documentation,
# #counterpart, #thumbnail, #coderived, #package, #detached-header) are left out until the validators clients run
# (STILTS 3.4 datalinklint) know them: a term a client does not know is an error there.
SEMANTICS = ["#this", "#progenitor", "#derivation", "#auxiliary", "#preview", "#preview-image", "#preview-plot",
             "#calibration", "#bias", "#dark", "#flat", "#error", "#noise", "#weight", "#cutout", "#proc"]


class LinkTemplate(models.Model):
    table = models.ForeignKey(Table, on_delete=models.CASCADE, related_name="link_templates")
    id_column = models.CharField(max_length=64, help_text="The column whose value identifies a row (the DataLink ID).")
    kind = models.CharField(max_length=8, choices=KINDS, default=URL)
    template = models.TextField(help_text="With {id} for the row's identifier: https://archive.example/obj/{id}, "
                                          "spectra/{id}.fits, or SELECT * FROM ztf.lightcurves WHERE source_id = {id}")
    volume = models.ForeignKey(Volume, null=True, blank=True, on_delete=models.SET_NULL,
                               help_text="The data volume of file links.")
    semantics = models.CharField(max_length=40, choices=[(s, s) for s in SEMANTICS], default="#auxiliary")
    description = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, blank=True, help_text="e.g. application/fits, image/png")
    content_qualifier = models.CharField(max_length=100, blank=True, help_text="e.g. #spectrum, #timeseries, #image")
    order = models.IntegerField(default=0)

    class Meta:
        ordering = ["table", "order", "id"]

    def __str__(self) -> str:
        return f"{self.table}: {self.description}"

    def clean(self) -> None:
        super().clean()
        if "{id}" not in self.template:
            raise ValidationError({"template": "Put {id} where the row's identifier goes."})
        if self.kind == FILE and self.volume is None:
            raise ValidationError({"volume": "File links need a data volume."})
        if self.kind == URL and not self.template.startswith(("https://", "http://")):
            raise ValidationError({"template": "A web address starts with https:// or http://."})
        if self.table_id and not self.table.columns.filter(name=self.id_column).exists():
            raise ValidationError({"id_column": f"{self.table} has no column {self.id_column}."})
