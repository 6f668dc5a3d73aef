"""E-mails of the approval workflow."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse

from apps.core.branding import contact_email


def managers() -> list[User]:
    return list(
        User.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name=settings.MANAGERS_GROUP) | Q(user_permissions__codename="manage_users"))
        .exclude(email="")
        .distinct()
    )


def signature() -> str:
    """Every e-mail ends with who sent it and where to write back (the site profile's contact address)."""
    contact = contact_email()
    return f"\n-- \n{settings.SITE_NAME}, {settings.SITE_URL}/" + (f"\nContact: {contact}" if contact else "") + "\n"


def _send(subject: str, message: str, recipients: list[str]) -> None:
    if recipients:
        send_mail(f"[{settings.SITE_NAME}] {subject}", message + signature(), None, recipients, fail_silently=True)


def notify_managers_of_pending(user: User) -> None:
    url = f"{settings.SITE_URL}{reverse('accounts:pending')}"
    action = "confirm" if settings.ACCOUNT_APPROVAL == "confirmation" else "activate"
    _send(
        f"New account waiting: {user.username}",
        f"{user.get_full_name() or user.username} <{user.email}> signed up and verified their address.\n"
        f"Please {action} the account here: {url}\n",
        [m.email for m in managers()],
    )


def notify_admins_of_confirmed(user: User) -> None:
    url = f"{settings.SITE_URL}{reverse('accounts:pending')}"
    admins = User.objects.filter(is_superuser=True, is_active=True).exclude(email="")
    _send(f"Account confirmed, waiting for activation: {user.username}", f"Activate it here: {url}\n", [a.email for a in admins])


def notify_user_activated(user: User) -> None:
    _send(
        "Your account is active",
        f"Dear {user.get_full_name() or user.username},\n\nyour account is now active. "
        f"Log in at {settings.SITE_URL}{reverse('account_login')}\n",
        [user.email] if user.email else [],
    )
