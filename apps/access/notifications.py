"""E-mails about groups, sent after the transaction commits."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from apps.accounts.notifications import signature

from .models import Membership


def notify_invitation(membership: Membership) -> None:
    if not membership.user.email:
        return
    inviter = membership.invited_by.username if membership.invited_by else "A group admin"
    send_mail(
        subject=f"[{settings.SITE_NAME}] Invitation to the group {membership.group.name}",
        message=(
            f"{inviter} invites you to join the group {membership.group.name}.\n\n"
            f"Accept or decline here: {settings.SITE_URL}{reverse('access:invitations')}\n" + signature()
        ),
        from_email=None,
        recipient_list=[membership.user.email],
        fail_silently=True,
    )
