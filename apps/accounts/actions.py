"""Side effects on accounts: approval, profile, API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest

from apps.activity import kinds
from apps.activity.actions import do_record_event

from .models import ApiToken, Profile, hash_token
from .notifications import notify_admins_of_confirmed, notify_user_activated
from .permissions import is_manager


@transaction.atomic
def do_update_profile(user: User, *, first_name: str, last_name: str, affiliation: str, country: str = "", orcid: str = "") -> Profile:
    user.first_name, user.last_name = first_name, last_name
    user.save(update_fields=["first_name", "last_name"])
    profile, _ = Profile.objects.get_or_create(user=user)
    profile.affiliation, profile.country, profile.orcid = affiliation, country, orcid
    profile.save()
    do_record_event(kinds.PROFILE_UPDATED, user=user, summary="updated profile")
    return profile


@transaction.atomic
def do_confirm_user(manager: User, user: User) -> None:
    if not is_manager(manager):
        raise PermissionDenied("Only managers confirm accounts.")
    profile, _ = Profile.objects.get_or_create(user=user)
    profile.confirmed = True
    profile.save(update_fields=["confirmed"])
    do_record_event(kinds.ACCOUNT_CONFIRMED, user=manager, summary=f"confirmed {user.username}", account=user.pk)
    transaction.on_commit(lambda: notify_admins_of_confirmed(user))


@transaction.atomic
def do_activate_user(manager: User, user: User) -> None:
    if settings.ACCOUNT_APPROVAL == "confirmation" and not manager.is_superuser:
        raise PermissionDenied("In the confirmation workflow an administrator activates accounts.")
    if not is_manager(manager):
        raise PermissionDenied("Only managers activate accounts.")
    user.is_active = True
    user.save(update_fields=["is_active"])
    do_record_event(kinds.ACCOUNT_ACTIVATED, user=manager, summary=f"activated {user.username}", account=user.pk)
    transaction.on_commit(lambda: notify_user_activated(user))


@transaction.atomic
def do_create_token(user: User, name: str, request: HttpRequest | None = None) -> tuple[ApiToken, str]:
    """Returns the token and its key; the key is shown once and never stored."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the token a name, e.g. the machine or script using it.")
    if user.api_tokens.filter(name=name).exists():
        raise ValidationError(f"You have a token called {name!r} already.")
    key = ApiToken.new_key()
    token = ApiToken.objects.create(user=user, name=name, prefix=key[: ApiToken.PREFIX_LENGTH], key_hash=hash_token(key))
    do_record_event(kinds.TOKEN_CREATED, user=user, request=request, summary=f"created API token {name}")
    return token, key


@transaction.atomic
def do_revoke_token(user: User, token: ApiToken, request: HttpRequest | None = None) -> None:
    if token.user_id != user.pk:
        raise PermissionDenied("This is not your token.")
    name = token.name
    token.delete()
    do_record_event(kinds.TOKEN_REVOKED, user=user, request=request, summary=f"revoked API token {name}")
