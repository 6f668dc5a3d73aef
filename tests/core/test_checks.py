"""System checks explain misconfiguration; the production configuration is clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": "x7Kp2vQ9mR4tY8wZ1aB5cD3eF6gH0jL2nP4sU6xW8zA1cE3gI5kM7oQ9",
    "SITE_URL": "https://data.example.org",
    "ALLOWED_HOSTS": "data.example.org",
    "DB_ENGINE": "postgresql",
    "DB_NAME": "daiquiri",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "BEHIND_TLS_PROXY": "true",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # the browser tests allow async-unsafe ORM calls in this process; a server must not inherit that
    inherited = ("DB_", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and not k.startswith(inherited)}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False
    )


def test_check_deploy_is_clean_in_the_documented_production_configuration(tmp_path: Path) -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", DAIQUIRI_VAR_DIR=str(tmp_path), **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_missing_secret_key_is_explained(tmp_path: Path) -> None:
    result = manage("check", DAIQUIRI_VAR_DIR=str(tmp_path), SECRET_KEY="")
    assert result.returncode != 0
    assert "daiquiri.E001" in result.stderr and "SECRET_KEY is not set" in result.stderr


def test_embedded_defaults_are_flagged_for_production(tmp_path: Path) -> None:
    result = manage("check", "--deploy", DAIQUIRI_VAR_DIR=str(tmp_path), SECRET_KEY=PRODUCTION["SECRET_KEY"])
    assert "daiquiri.W001" in result.stderr and "daiquiri.W002" in result.stderr


def test_a_bad_environment_value_stops_start_up_with_its_name(tmp_path: Path) -> None:
    result = manage("check", DAIQUIRI_VAR_DIR=str(tmp_path), SECRET_KEY="k", DB_PORT="fivefourthreetwo", DB_ENGINE="postgresql")
    assert result.returncode != 0 and "DB_PORT='fivefourthreetwo' is not a whole number" in result.stderr
