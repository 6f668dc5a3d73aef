from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db import models

from workers.engines import available_engines

from .files import FORMATS, LOAD_AS_NULL, REJECT
from .models import ACCESS_LEVELS, Table
from .validators import validate_identifier


def _engines() -> list[tuple[str, str]]:
    return [(e, e) for e in available_engines()]


class IngestForm(forms.Form):
    file = forms.FileField(required=False, help_text="FITS, VOTable, CSV or Parquet (a sidecar VOTable can be imported afterwards).")
    server_path = forms.CharField(required=False, help_text="Or the name of a file already in the server's incoming folder.")
    schema = forms.CharField(max_length=64, validators=[validate_identifier])
    table = forms.CharField(max_length=64, validators=[validate_identifier])
    engine = forms.ChoiceField(choices=_engines)
    format = forms.ChoiceField(choices=[("", "from the file name"), *[(f, f) for f in FORMATS]], required=False)
    replace = forms.BooleanField(required=False, help_text="Replace the table if it exists.")
    bad_cells = forms.ChoiceField(label="Cells that do not fit their column (CSV)", initial=REJECT, required=False,
                                  choices=[(REJECT, "refuse the file and list them (line and column)"),
                                           (LOAD_AS_NULL, "load them as NULL and list them in a report")])
    layout = forms.ChoiceField(initial="auto", required=False, choices=[
        ("auto", "automatic: HEALPix partitions for big tables with positions (DuckDB, Spark)"),
        ("plain", "one Parquet file"), ("hats", "HEALPix partitions (HATS layout, DuckDB and Spark only)")],
        help_text="How DuckDB/Spark store the rows; partitions let cone searches and cross-matches read only the sky they need.")
    partition_rows = forms.IntegerField(required=False, min_value=1000, help_text="HATS: at most this many rows per partition "
                                        "(default 1,000,000).")
    publish = forms.ChoiceField(choices=[("", "no, keep it unpublished"), *ACCESS_LEVELS], required=False,
                                help_text="Publish at once with this access level.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["engine"].initial = settings.DEFAULT_ENGINE

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("file")) == bool(data.get("server_path")):
            raise forms.ValidationError("Give either a file to upload or a file in the incoming folder.")
        return data


class DiscoverForm(forms.Form):
    engine = forms.ChoiceField(choices=_engines)
    schema = forms.CharField(max_length=64, validators=[validate_identifier], help_text="The schema in that database.")
    table = forms.CharField(max_length=64, required=False, validators=[validate_identifier], help_text="Empty: every table.")


class ImportMetadataForm(forms.Form):
    votable = forms.FileField(label="VOTable", help_text="FIELDs with units, UCDs and descriptions (no rows needed).")
    overwrite = forms.BooleanField(required=False, help_text="Replace what is already written (otherwise only fill empty fields).")


class TableAdminForm(forms.ModelForm):
    """The table's admin page: the HEALPix order and shift may be left empty (their defaults: order 29, no shift),
    so pages and scripts that predate them still save."""

    class Meta:
        model = Table
        exclude = ("resource",)  # noqa: DJ006  (the admin names the fields: every field of Table but its Resource)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("healpix_order", "healpix_shift"):
            if name in self.fields:
                self.fields[name].required = False

    def _or_default(self, name: str) -> int:
        value = self.cleaned_data.get(name)
        if value is None:
            field = Table._meta.get_field(name)
            assert isinstance(field, models.Field)  # healpix_order/shift: plain integer fields
            value = field.get_default()
        return int(value)

    def clean_healpix_order(self) -> int:
        return self._or_default("healpix_order")

    def clean_healpix_shift(self) -> int:
        return self._or_default("healpix_shift")
