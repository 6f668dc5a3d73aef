"""The contact form: a message from anyone to the portal's managers, never a relay.

The recipients are fixed by the portal (the site profile's contact address, else the
managers' addresses); what the sender types goes only into the body and the Reply-To
header (Django refuses header values with line breaks). Messages are counted in the
activity log and refused past CONTACT_PER_HOUR from one network address (or account)
and CONTACT_SITE_PER_HOUR from everyone, so the form cannot flood the managers' mailboxes.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.mail import EmailMessage
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.notifications import managers
from apps.activity.actions import client_ip, do_record_event
from apps.activity.models import Event

from .models import SiteProfile

CONTACT_SENT = "contact.sent"


class ContactError(Exception):
    """The message cannot be sent now; the text says why."""


class ContactForm(forms.Form):
    name = forms.CharField(max_length=100)
    email = forms.EmailField(label="Your e-mail address", help_text="The managers answer to this address.")
    subject = forms.CharField(max_length=150)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), max_length=5000)
    website = forms.CharField(required=False, label="Leave this empty", widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}))

    def clean_subject(self) -> str:
        return " ".join(str(self.cleaned_data["subject"]).split())  # one line, whatever was pasted


def recipients() -> list[str]:
    profile = SiteProfile.current()
    return [profile.contact_email] if profile.contact_email else sorted({m.email for m in managers()})


def _check_rate(request: HttpRequest) -> None:
    hour_ago = timezone.now() - timedelta(hours=1)
    recent = Event.objects.filter(kind=CONTACT_SENT, time__gte=hour_ago)
    per_sender = int(getattr(settings, "CONTACT_PER_HOUR", 3))
    mine = recent.filter(user=request.user) if request.user.is_authenticated else recent.filter(ip=client_ip(request))
    if mine.count() >= per_sender:
        raise ContactError(f"You have sent {per_sender} messages in the last hour: please wait before writing again.")
    if recent.count() >= int(getattr(settings, "CONTACT_SITE_PER_HOUR", 30)):
        raise ContactError("The contact form is busy: please try again in an hour.")


def do_send_contact_message(request: HttpRequest, data: dict[str, str]) -> None:
    """Mail the message to the managers, or raise ContactError (rate, nobody to receive it)."""
    _check_rate(request)
    to = recipients()
    if not to:
        raise ContactError("Nobody is set up to receive messages yet: the portal has no contact address.")
    user: User | AnonymousUser = request.user  # type: ignore[assignment]
    account = f" (account {user.get_username()})" if user.is_authenticated else ""
    body = f"From {data['name']} <{data['email']}>{account} via the contact form of {settings.SITE_URL}:\n\n{data['message']}\n"
    EmailMessage(f"[{settings.SITE_NAME} contact] {data['subject']}", body, None, to, reply_to=[data["email"]]).send()
    do_record_event(CONTACT_SENT, request=request, summary=f"contact form: {data['subject'][:200]}")
