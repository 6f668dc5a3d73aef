"""The OAI-PMH endpoint (GET and POST, as the protocol allows) and the table coverage downloads."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import oai
from .repository import PortalRepository


@csrf_exempt  # a harvester posts a form without a session
@require_http_methods(["GET", "HEAD", "POST"])
def oai_pmh(request: HttpRequest) -> HttpResponse:
    params = request.POST if request.method == "POST" else request.GET
    body = oai.respond({k: params.getlist(k) for k in params}, PortalRepository(), timezone.now(),
                       page=settings.REGISTRY_PAGE_SIZE)
    return HttpResponse(body, content_type="text/xml; charset=utf-8")
