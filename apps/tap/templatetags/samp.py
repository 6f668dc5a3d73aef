"""SAMP buttons for any page: ``{% load samp %}`` then ``{% samp_result_button job %}`` on a result page or
``{% samp_table_button table %}`` on a table page, and ``{% samp_script %}`` once in ``{% block scripts %}``.

Each renders templates/tap/samp_button.html with a signed link the receiving client can fetch
without the user's session (see apps/tap/samp.py).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.query.models import QueryJob
from apps.uws import phases

from .. import samp

register = template.Library()


@register.inclusion_tag("tap/samp_button.html", takes_context=True)
def samp_result_button(context: dict[str, Any], job: QueryJob, name: str = "") -> dict[str, str]:
    """Send a finished query job's result (nothing for a job without one)."""
    if job.phase != phases.COMPLETED:
        return {"samp_url": ""}
    return {"samp_url": samp.result_url(context["request"], job), "samp_name": name or job.table_name or job.run_id or "result"}


@register.inclusion_tag("tap/samp_button.html", takes_context=True)
def samp_table_button(context: dict[str, Any], table: Any, rows: int = samp.TABLE_ROWS) -> dict[str, str]:
    """Send the first ``rows`` rows of a published table (schema.table), as the viewing user may query it."""
    request = context["request"]
    name = getattr(table, "qualified_name", str(table))
    return samp.table_button(request, request.user, name, getattr(table, "row_count", None), rows)


@register.simple_tag
def samp_script() -> SafeString:
    return format_html('<script src="{}"></script>', static("js/samp.js"))
