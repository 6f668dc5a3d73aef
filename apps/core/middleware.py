"""Two middlewares every response passes: input no database can store, and the Content-Security-Policy.

``RefuseUnstorableText`` answers 400 to a request whose path, query string,
form or JSON body carries a NUL character or a lone surrogate: PostgreSQL
refuses both in text, UTF-8 cannot encode the second, and no name, query or
path of the portal has a use for either. Refusing them at the door takes the
whole class away from every view (each used to reach the database and fail
there with a 500). Multipart bodies are left to the forms (Django's form
fields refuse NUL), since reading them here would buffer uploads.

``ContentSecurityPolicy`` sets settings.CONTENT_SECURITY_POLICY on every
response that has none: scripts come from our own static files only (no
inline code), so an injected ``<script>`` or ``onerror=`` does not run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REFUSAL = "Text in a request may not contain NUL characters or unpaired surrogates."


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _json_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body)
    except ValueError:  # not JSON after all: the view explains that
        return None


def has_unstorable_text(request: HttpRequest) -> bool:
    if b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", "")) or _unstorable(request.path):
        return True
    if _unstorable(request.COOKIES):  # a session key is looked up in the database
        return True
    content_type = request.content_type or ""
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    if content_type == "application/x-www-form-urlencoded":
        if not request.META.get("CONTENT_LENGTH"):  # chunked (STILTS, TOPCAT): Django would parse no form at all
            request.META["CONTENT_LENGTH"] = str(len(request.body))
        return any(_unstorable(name) or _unstorable(values) for name, values in request.POST.lists())
    if content_type == "application/json" or content_type.endswith("+json"):
        return _unstorable(_json_body(request))
    return False


class RefuseUnstorableText:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if has_unstorable_text(request):
            return HttpResponseBadRequest(REFUSAL, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class ContentSecurityPolicy:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
