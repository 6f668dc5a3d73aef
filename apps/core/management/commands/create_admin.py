"""Create the first administrator (once) and say how to log in."""

from __future__ import annotations

import secrets
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the administrator account 'admin' if there is none, and print its password."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")

    def handle(self, *args: Any, username: str, email: str, **options: Any) -> None:
        password_file = settings.VAR_DIR / "admin-password"
        if not User.objects.filter(username=username).exists():
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username, email, password)
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        if password_file.exists():
            self.stdout.write(f"Log in as '{username}' with the password {password_file.read_text().strip()} (kept in {password_file}).")
        else:
            self.stdout.write(f"The administrator '{username}' exists already.")
