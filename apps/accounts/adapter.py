"""allauth hooks for the approval workflow chosen by ACCOUNT_APPROVAL."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest

from .models import Profile


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(getattr(settings, "SIGNUP_OPEN", True))

    def save_user(self, request: HttpRequest, user: User, form: Any, commit: bool = True) -> User:
        user = super().save_user(request, user, form, commit=False)
        # Outside the open workflow a manager must approve the account first.
        user.is_active = settings.ACCOUNT_APPROVAL == "open"
        if commit:
            user.save()
            Profile.objects.get_or_create(user=user)
        return user
