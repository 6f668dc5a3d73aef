"""Resource types and their actions, registered by the app that owns each type.

An app calls ``register_resource_type`` from its ``AppConfig.ready()``:
``register_resource_type("table", "Table", ("query", "read"))``. ``grant`` is
added to every type: whoever holds it may give the resource's privileges on.
"""

from __future__ import annotations

from dataclasses import dataclass

GRANT = "grant"


@dataclass(frozen=True)
class ResourceType:
    name: str
    label: str
    actions: tuple[str, ...]


_TYPES: dict[str, ResourceType] = {}


def register_resource_type(name: str, label: str, actions: tuple[str, ...]) -> ResourceType:
    full = tuple(dict.fromkeys((*actions, GRANT)))
    existing = _TYPES.get(name)
    if existing and existing.actions != full:
        raise ValueError(f"resource type {name!r} is already registered with other actions")
    _TYPES[name] = ResourceType(name, label, full)
    return _TYPES[name]


def resource_type(name: str) -> ResourceType:
    try:
        return _TYPES[name]
    except KeyError:
        raise LookupError(f"unknown resource type {name!r}; register it in its app's ready()") from None


def resource_types() -> list[ResourceType]:
    return sorted(_TYPES.values(), key=lambda t: t.label)
