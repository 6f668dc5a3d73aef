"""Template tags for pages that name VO identifiers: ``{% table_ivoid table %}``, ``{% tap_ivoid %}``."""

from __future__ import annotations

from django import template

from apps.metadata.models import Table

from ..records import table_id, tap_id

register = template.Library()


@register.simple_tag
def table_ivoid(table: Table) -> str:
    return table_id(table)


@register.simple_tag
def tap_ivoid() -> str:
    return tap_id()
