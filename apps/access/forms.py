from __future__ import annotations

from allauth.account.models import EmailAddress
from django import forms
from django.contrib.auth.models import User

from .models import Group, Membership


class GroupForm(forms.Form):
    name = forms.CharField(max_length=150)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


def find_user(text: str) -> User | None:
    """The active user with this user name, or whose VERIFIED e-mail address this is.

    Text with an @ is only ever an e-mail address: a user name shaped like somebody
    else's address (refused since, but maybe older) must not receive what was meant
    for that address's owner; nor may an address its holder never confirmed.
    """
    text = text.strip()
    if "@" in text:
        address = EmailAddress.objects.filter(email__iexact=text, verified=True, user__is_active=True).select_related("user").first()
        return None if address is None else address.user
    return User.objects.filter(username__iexact=text, is_active=True).first()


class UserField(forms.CharField):
    """A user named by user name or e-mail address."""

    def clean(self, value: str) -> User:  # type: ignore[override]
        text = super().clean(value)
        user = find_user(text)
        if user is None:
            raise forms.ValidationError(f"No active user is called {text!r}.")
        return user


class InviteForm(forms.Form):
    user = UserField(label="User name or e-mail")
    role = forms.ChoiceField(choices=Membership.ROLES, initial=Membership.ROLE_MEMBER)


# What each action lets the holder do, as the sharing dialogue says it.
ACTION_LABELS = {"read": "see it and its description (read)", "query": "query it, and see it (query)", "write": "change it (write)",
                 "run": "run it (run)", "submit": "submit jobs to it (submit)", "use": "use it (use)",
                 "grant": "share it further (grant)"}


class ShareForm(forms.Form):
    action = forms.ChoiceField(label="May")
    user = forms.CharField(required=False, label="User name or e-mail")
    group = forms.ModelChoiceField(queryset=Group.objects.none(), required=False)

    def __init__(self, *args: object, actions: tuple[str, ...], groups: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["action"].choices = [(a, ACTION_LABELS.get(a, a)) for a in actions]  # type: ignore[attr-defined]
        self.fields["group"].queryset = groups  # type: ignore[attr-defined]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if bool(data.get("user")) == bool(data.get("group")):
            raise forms.ValidationError("Choose either a user or a group.")
        if data.get("user"):
            user = find_user(str(data["user"]))
            if user is None:
                raise forms.ValidationError(f"No active user is called {data['user']!r}.")
            data["user"] = user
        return data
