"""allauth hooks for the approval workflow chosen by ACCOUNT_APPROVAL."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest

from .addresses import client_address
from .authentication import account_key, give_back, take_attempt
from .models import Profile
from .validators import validate_username_not_email


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(getattr(settings, "SIGNUP_OPEN", True))

    def clean_username(self, username: str, shallow: bool = False) -> str:
        validate_username_not_email(username)
        return super().clean_username(username, shallow=shallow)

    def authenticate(self, request: HttpRequest, **credentials: Any) -> Any:
        """The login page counts failures like HTTP Basic does (authentication.py): atomically, per
        account and address. allauth's own LOGIN_RATE_LIMIT still applies as well."""
        login = str(credentials.get("username") or credentials.get("email") or "")
        slots = take_attempt(request, account_key(login))
        if slots is None:
            raise self.validation_error("too_many_login_attempts")
        user = super().authenticate(request, **credentials)
        if user is not None:
            give_back(slots)
        return user

    def get_client_ip(self, request: HttpRequest) -> str:
        # allauth's own guess trusts any X-Forwarded-For, which resets its login limits at will.
        return client_address(request)

    def save_user(self, request: HttpRequest, user: User, form: Any, commit: bool = True) -> User:
        user = super().save_user(request, user, form, commit=False)
        # Outside the open workflow a manager must approve the account first.
        user.is_active = settings.ACCOUNT_APPROVAL == "open"
        if commit:
            user.save()
            Profile.objects.get_or_create(user=user)
        return user
