"""Who is a manager: superusers and members of the managers Django group."""

from __future__ import annotations

from typing import Any


def is_manager(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_superuser or user.has_perm("accounts.manage_users"))
