from __future__ import annotations

from django import forms
from django.contrib.auth.models import User

from .models import Profile


class SignupForm(forms.Form):
    """Extra fields on allauth's sign-up form; allauth calls ``signup``."""

    first_name = forms.CharField(max_length=150, label="First name")
    last_name = forms.CharField(max_length=150, label="Last name")
    affiliation = forms.CharField(max_length=255, label="Affiliation", help_text="Institute or university")

    def signup(self, request: object, user: User) -> None:
        user.first_name = self.cleaned_data["first_name"]
        user.last_name = self.cleaned_data["last_name"]
        user.save(update_fields=["first_name", "last_name"])
        profile, _ = Profile.objects.get_or_create(user=user)
        profile.affiliation = self.cleaned_data["affiliation"]
        profile.save(update_fields=["affiliation"])


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    affiliation = forms.CharField(max_length=255, required=False)
    country = forms.CharField(max_length=100, required=False)
    orcid = forms.RegexField(
        regex=r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$", required=False, label="ORCID iD",
        error_messages={"invalid": "An ORCID iD looks like 0000-0002-1825-0097."},
    )


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Token name", help_text="e.g. laptop, TOPCAT, pipeline")

