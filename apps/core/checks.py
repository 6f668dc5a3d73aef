"""System checks that explain misconfiguration in plain words (ids daiquiri.E/W)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from apps.core.demo_users import DEMO_USERS, demo_password
from workers.engines.mariadb import installation_problem

INSECURE_KEYS = {"", "insecure-development-key-only-for-debug"}


def refuse_to_start_if_misconfigured() -> None:
    """Servers and workers do not run `manage.py check` themselves: do it for them."""
    from django.core.checks import run_checks

    errors = [message for message in run_checks() if message.is_serious()]
    if errors:
        raise SystemExit("Refusing to start:\n" + "\n".join(f"  {message}" for message in errors))


@register()
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[Error]:
    if not settings.DEBUG and settings.SECRET_KEY in INSECURE_KEYS:
        return [
            Error(
                "SECRET_KEY is not set.",
                hint="Set SECRET_KEY (or SECRET_KEY_FILE) to a long random string, "
                "e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
                id="daiquiri.E001",
            )
        ]
    return []


@register()
def check_var_dir(app_configs: Any, **kwargs: Any) -> list[Error]:
    var_dir = settings.VAR_DIR
    var_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(var_dir, os.W_OK):
        return [Error(f"The data folder {var_dir} is not writable.", hint="Set DAIQUIRI_VAR_DIR.", id="daiquiri.E002")]
    return []


@register()
def check_site_url(app_configs: Any, **kwargs: Any) -> list[Error]:
    if not settings.SITE_URL.startswith(("http://", "https://")):
        return [Error(f"SITE_URL={settings.SITE_URL!r} must start with http:// or https://", id="daiquiri.E003")]
    return []


@register(Tags.security, deploy=True)
def check_production_services(app_configs: Any, **kwargs: Any) -> list[Warning]:
    warnings = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        warnings.append(
            Warning(
                "The portal database is SQLite, which serves one machine only.",
                hint="Set DB_ENGINE=postgresql (see README, Production).",
                id="daiquiri.W001",
            )
        )
    if settings.CELERY_BROKER_URL.startswith(("sqlite:", "filesystem")):
        warnings.append(
            Warning(
                "The task broker is a file on this machine: workers on other machines cannot see it.",
                hint="Set REDIS_URL (or CELERY_BROKER_URL) to a Redis server.",
                id="daiquiri.W002",
            )
        )
    if settings.CELERY_TASK_ALWAYS_EAGER:
        warnings.append(
            Warning("CELERY_TASK_ALWAYS_EAGER runs queries inside web requests.", id="daiquiri.W003")
        )
    return warnings


# --- Security of the deployment (ids 010 and up) ------------------------------------------------
SUPERUSER_NAMES = {"root", "postgres"}


@register(Tags.security, deploy=True)
def check_demo_accounts(app_configs: Any, **kwargs: Any) -> list[Error]:
    """The demo users' passwords are printed by `manage.py demo` and in the README: anybody can log in."""
    from django.contrib.auth.models import User
    from django.db import DatabaseError

    try:
        users = list(User.objects.filter(username__in=[name for name, _, _ in DEMO_USERS], is_active=True))
    except DatabaseError:  # not migrated yet: nothing to warn about
        return []
    open_doors = sorted(user.username for user in users if user.check_password(demo_password(user.username)))
    if not open_doors:
        return []
    return [Error(
        f"The demo accounts {', '.join(open_doors)} are active with their published passwords.",
        hint="Delete them, deactivate them or give them new passwords (manage.py changepassword NAME).",
        id="daiquiri.E010",
    )]


@register(Tags.security, deploy=True)
def check_science_database_users(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Queries run with the science URL's account: a superuser there can read and change everything."""
    from urllib.parse import urlsplit

    warnings = []
    for name in ("SCIENCE_POSTGRESQL_URL", "SCIENCE_MARIADB_URL"):
        url = getattr(settings, name, "")
        if not url:
            continue
        user = urlsplit(url).username or ""
        if user.lower() in SUPERUSER_NAMES or not user:
            who = f"as {user!r}" if user else "without a user name (the driver's default may be a superuser)"
            warnings.append(Warning(
                f"{name} logs in {who}: every query would run with the database's full powers.",
                hint="Create an account that may only read the science schemas and write its own result "
                "schema, and put it in the URL (see README, Production).",
                id="daiquiri.W010",
            ))
    return warnings


@register()
def check_mariadb_database(app_configs: Any, **kwargs: Any) -> list[Error]:
    """The MariaDB engine keeps users' tables under the database SCIENCE_MARIADB_URL names; that database
    must be this portal's: never a system one, never another portal's (its daiquiri_installation says whose)."""
    if not settings.SCIENCE_MARIADB_URL:
        return []
    problem = installation_problem(settings.SCIENCE_MARIADB_URL, settings.SITE_URL)
    if problem is None:
        return []
    return [Error(problem, hint="Two portals on one MariaDB server need one database each, e.g. "
                  "mysql://portal@db:3306/portal_a and mysql://portal@db:3306/portal_b.", id="daiquiri.E020")]
