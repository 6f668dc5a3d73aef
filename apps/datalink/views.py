"""The DataLink {links} endpoint of each published table: ``/datalink/<schema>/<table>/links?ID=...``.

The table is looked up with the reader's permissions (404 if they may not see it);
file links are checked against the volume's permissions through the files app, so a
reader who may not read the volume learns the link needs authorisation, not the file's size.
"""

from __future__ import annotations

import urllib.parse

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps import formats
from apps.files import actions as files
from apps.files.paths import PathError
from apps.metadata.views import access_table

from .links import CONTENT_TYPE, Link, fill, links_document
from .models import FILE, TAP, LinkTemplate

MAX_IDS = 500


def _file_link(user: User | AnonymousUser, template: LinkTemplate, identifier: str, base: Link) -> Link:
    path = fill(template.template, FILE, identifier)
    volume = template.volume
    if volume is None:
        return Link(identifier, error_message="FatalFault: the link's data volume is gone.", semantics=template.semantics)
    url = f"{settings.SITE_URL}{reverse('files:api_download', args=[volume.pk])}?{urllib.parse.urlencode({'path': path})}"
    if "read" not in files.volume_actions(user, volume):
        return Link(**{**base.__dict__, "access_url": url, "link_auth": "true", "link_authorized": False})
    try:
        size = files.volume_fs(volume).stat(path).st_size
    except (PathError, OSError):
        return Link(identifier, error_message=f"NotFoundFault: {path} is not in {volume.name}.", semantics=template.semantics)
    public = "read" in files.volume_actions(AnonymousUser(), volume)
    return Link(**{**base.__dict__, "access_url": url, "content_length": size, "link_auth": "false" if public else "true",
                   "link_authorized": True})


def build_link(user: User | AnonymousUser, template: LinkTemplate, identifier: str) -> Link:
    base = Link(identifier, semantics=template.semantics, description=template.description,
                content_type=template.content_type, content_qualifier=template.content_qualifier)
    if template.kind == FILE:
        return _file_link(user, template, identifier, base)
    if template.kind == TAP:
        query = urllib.parse.urlencode({"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": fill(template.template, TAP, identifier)})
        return Link(**{**base.__dict__, "access_url": f"{settings.SITE_URL}/tap/sync?{query}",
                       "content_type": template.content_type or "application/x-votable+xml"})
    return Link(**{**base.__dict__, "access_url": fill(template.template, template.kind, identifier)})


def _ids(request: HttpRequest) -> list[str]:
    params = request.POST if request.method == "POST" else request.GET
    return [v for k in params if k.upper() == "ID" for v in params.getlist(k)]


@csrf_exempt  # DataLink clients post forms without a session
@require_http_methods(["GET", "HEAD", "POST"])
def links(request: HttpRequest, schema: str, table: str) -> HttpResponse:
    found = access_table(request.user, schema, table)  # type: ignore[arg-type]
    ids = _ids(request)
    if not ids or len(ids) > MAX_IDS:
        message = "UsageFault: give at least one ID." if not ids else f"UsageFault: at most {MAX_IDS} IDs per request."
        return HttpResponse(formats.error_votable(message), status=400, content_type="application/x-votable+xml")
    templates = list(LinkTemplate.objects.filter(table=found).select_related("volume", "volume__resource"))
    rows: list[Link] = []
    for identifier in ids:
        if not templates:
            rows.append(Link(identifier, error_message=f"NotFoundFault: {found} declares no links."))
        rows += [build_link(request.user, t, identifier) for t in templates]  # type: ignore[arg-type]
    return HttpResponse(links_document(rows), content_type=CONTENT_TYPE)
