"""Load the demo set: users and a group now; each app adds its part.

An app contributes by defining ``load_demo(stdout, size)`` in its module
``demo.py`` (e.g. apps/metadata/demo.py generates the demo catalogues).
Demo catalogues go into the embedded DuckDB engine only, unless ``--engines``
names configured servers too: a science database the operator configured is
never written to by surprise. ``--remove`` deletes the demo catalogues with
their data. scripts/run loads the demo only on embedded defaults or DEMO=1.
"""

from __future__ import annotations

import importlib
from typing import Any

from allauth.account.models import EmailAddress
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings

from apps.access.actions import do_create_group, do_invite, do_respond_to_invitation
from apps.access.models import Group
from apps.core.demo_users import DEMO_USERS, demo_password
from apps.metadata.demo import remove_demo
from workers.engines import available_engines


class Command(BaseCommand):
    help = "Load demo users, a group and (through each app's demo.py) demo catalogues."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--size", choices=["small", "medium", "large"], default="small")
        parser.add_argument("--engines", default="duckdb",
                            help="Comma-separated engines to write demo catalogues into (default: duckdb, the embedded one). "
                                 "Name a configured server only if it is not a production database.")
        parser.add_argument("--remove", action="store_true", help="Delete the demo catalogues and their data, in every engine.")

    def handle(self, *args: Any, size: str, engines: str, remove: bool, **options: Any) -> None:
        if remove:
            remove_demo(self.stdout)
            return
        wanted = tuple(e.strip() for e in engines.split(",") if e.strip())
        unknown = [e for e in wanted if e not in available_engines()]
        if unknown:
            raise CommandError(f"Not configured on this portal: {', '.join(unknown)} (configured: {', '.join(available_engines())}).")
        self._users_and_group()
        for config in apps.get_app_configs():
            if not config.name.startswith("apps."):
                continue
            try:
                module = importlib.import_module(f"{config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.demo":
                    raise
                continue
            if config.name == "apps.metadata":
                module.load_demo(self.stdout, size, engines=wanted)
            else:
                module.load_demo(self.stdout, size)

    @override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend")  # no invitation mails for demo users
    @transaction.atomic
    def _users_and_group(self) -> None:
        users = {}
        for username, first, last in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@example.org"})
            if created:
                user.set_password(demo_password(username))
                user.save()
                EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
            users[username] = user
        if not Group.objects.filter(name="Demo survey team").exists():
            group = do_create_group(users["alice"], "Demo survey team", "Alice's collaborators (demo data).")
            membership = do_invite(users["alice"], group, users["bob"])
            do_respond_to_invitation(users["bob"], membership, accept=True)
        self.stdout.write("Demo users: alice / alice-demo-password and bob / bob-demo-password.")
