"""The demo accounts: ``manage.py demo`` creates them, ``check --deploy`` refuses them where they still open the door."""

from __future__ import annotations

DEMO_USERS = [("alice", "Alice", "Astronomer"), ("bob", "Bob", "Observer")]


def demo_password(username: str) -> str:
    """Published (README, the demo command's output): `check --deploy` refuses demo accounts that still use it."""
    return f"{username}-demo-password"
