from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from workers.engines import available_engines

from .files import FORMATS, LOAD_AS_NULL, REJECT
from .models import ACCESS_LEVELS
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
