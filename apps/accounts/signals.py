"""Activity records and approval notifications from allauth's and Django's signals."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest

from apps.activity import kinds
from apps.activity.actions import do_record_event

from .models import Profile
from .notifications import notify_managers_of_pending


def on_user_signed_up(request: HttpRequest, user: User, **kwargs: Any) -> None:
    Profile.objects.get_or_create(user=user)
    do_record_event(kinds.SIGNUP, user=user, request=request, summary=f"signed up as {user.username}")
    if not user.is_active:
        # allauth stops at "inactive" before its verification step; the address
        # must still be verified before managers are asked to approve it.
        for address in EmailAddress.objects.filter(user=user, verified=False):
            address.send_confirmation(request, signup=True)


def on_email_confirmed(request: HttpRequest, email_address: Any, **kwargs: Any) -> None:
    user = email_address.user
    do_record_event(kinds.EMAIL_CONFIRMED, user=user, request=request, summary="verified e-mail address")
    if settings.ACCOUNT_APPROVAL != "open" and not user.is_active:
        notify_managers_of_pending(user)


def on_logged_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    do_record_event(kinds.LOGIN, user=user, request=request, summary="logged in")


def on_logged_out(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        do_record_event(kinds.LOGOUT, user=user, request=request, summary="logged out")


def on_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    # The attempted name is kept for managers; the page itself says nothing about it.
    do_record_event(kinds.LOGIN_FAILED, request=request, summary="failed login", username=str(credentials.get("username", ""))[:150])


# Managers get these model permissions in the admin console, besides manage_users.
MANAGER_PERMISSIONS = [
    ("accounts", "manage_users"), ("accounts", "view_profile"), ("accounts", "change_profile"),
    ("auth", "view_user"), ("auth", "change_user"),
    ("access", "view_group"), ("access", "change_group"), ("access", "view_membership"),
    ("access", "view_resource"), ("access", "view_privilege"), ("activity", "view_event"),
]


def create_managers_group(**kwargs: Any) -> None:
    """Keep the Django group ``managers`` with its permissions after every migrate."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=settings.MANAGERS_GROUP)
    for app_label, codename in MANAGER_PERMISSIONS:
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is not None:
            group.permissions.add(permission)
