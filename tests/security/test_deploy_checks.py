"""`manage.py check --deploy` names the doors a deployment left open."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks


def deploy_ids() -> set[str]:
    return {message.id or "" for message in run_checks(include_deployment_checks=True)}


@pytest.mark.django_db
def test_demo_accounts_with_their_published_passwords_are_an_error() -> None:
    _load_demo_users()
    assert "daiquiri.E010" in deploy_ids()
    alice = User.objects.get(username="alice")
    alice.set_password("something-only-alice-knows")
    alice.save()
    assert "daiquiri.E010" in deploy_ids()  # bob still has his
    User.objects.filter(username="bob").update(is_active=False)
    assert "daiquiri.E010" not in deploy_ids()


@pytest.mark.django_db
def test_the_demo_check_is_not_run_at_start_up() -> None:
    _load_demo_users()
    assert "daiquiri.E010" not in {m.id for m in run_checks(include_deployment_checks=False)}


@pytest.mark.parametrize(("name", "url", "warned"), [
    ("SCIENCE_POSTGRESQL_URL", "postgresql://postgres@db/science", True),
    ("SCIENCE_POSTGRESQL_URL", "postgresql://db/science", True),
    ("SCIENCE_POSTGRESQL_URL", "postgresql://daiquiri:secret@db/science", False),
    ("SCIENCE_MARIADB_URL", "mysql://root@db:3306/science", True),
    ("SCIENCE_MARIADB_URL", "mysql://ROOT:pw@db:3306/science", True),
    ("SCIENCE_MARIADB_URL", "mysql://daiquiri@db:3306/science", False),
])
def test_a_science_url_logging_in_as_a_superuser_is_warned(settings: Any, name: str, url: str, warned: bool, db: None) -> None:
    settings.SCIENCE_POSTGRESQL_URL = settings.SCIENCE_MARIADB_URL = ""
    setattr(settings, name, url)
    assert ("daiquiri.W010" in deploy_ids()) is warned


def _load_demo_users() -> None:
    from apps.core.management.commands.demo import Command

    Command()._users_and_group()
