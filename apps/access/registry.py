"""Resource types and their actions, registered by the app that owns each type.

An app calls ``register_resource_type`` from its ``AppConfig.ready()``:
``register_resource_type("table", "Table", ("query", "read"), implies={"query": ("read",)})``.
``grant`` is added to every type: whoever holds it may give the resource's
privileges on. ``implies`` says which actions come with another: whoever may
query a table may read its description, without a second privilege
(apps/access/permissions.py applies it, in one place).
"""

from __future__ import annotations

from dataclasses import dataclass, field

GRANT = "grant"


@dataclass(frozen=True)
class ResourceType:
    name: str
    label: str
    actions: tuple[str, ...]
    implies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def granted_by(self, action: str) -> tuple[str, ...]:
        """The actions whose privilege lets one do ``action``: itself and those that imply it."""
        return (action, *(a for a, implied in self.implies.items() if action in implied))

    def with_implied(self, held: set[str]) -> set[str]:
        return held | {i for a in held for i in self.implies.get(a, ())}


_TYPES: dict[str, ResourceType] = {}


def register_resource_type(name: str, label: str, actions: tuple[str, ...],
                           implies: dict[str, tuple[str, ...]] | None = None) -> ResourceType:
    full = tuple(dict.fromkeys((*actions, GRANT)))
    implied = dict(implies or {})
    if any(a not in full or not set(i) <= set(full) for a, i in implied.items()):
        raise ValueError(f"resource type {name!r}: implied actions must be its own")
    existing = _TYPES.get(name)
    if existing and (existing.actions != full or existing.implies != implied):
        raise ValueError(f"resource type {name!r} is already registered with other actions")
    _TYPES[name] = ResourceType(name, label, full, implied)
    return _TYPES[name]


def resource_type(name: str) -> ResourceType:
    try:
        return _TYPES[name]
    except KeyError:
        raise LookupError(f"unknown resource type {name!r}; register it in its app's ready()") from None


def resource_types() -> list[ResourceType]:
    return sorted(_TYPES.values(), key=lambda t: t.label)
