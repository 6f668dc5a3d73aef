from typing import Any

from .models import Group


def create_builtin_groups(**kwargs: Any) -> None:
    for kind, name in ((Group.KIND_PUBLIC, "Public"), (Group.KIND_ANYONE, "Anyone")):
        Group.objects.get_or_create(kind=kind, defaults={"name": name})
