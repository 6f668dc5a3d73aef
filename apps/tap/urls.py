"""The TAP URL families.

``/tap`` answers anonymous requests (credentials sent along still count). ``/tap/auth`` is the same service,
but it answers a request without credentials with 401 and a Basic challenge: the only way TOPCAT and STILTS,
whose Java authenticator sends credentials only after a challenge, ever log in. Both families also accept a
doubled slash after their root (``/tap//sync``), which clients build from a root URL copied with its slash.
``/tap/login`` and ``/tap/logout`` are ESA's TAP+ login for astroquery (see plus.py).
"""

from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, URLResolver, include, path, re_path

from . import views

app_name = "tap"


def _same(view: Callable[..., Any]) -> Callable[..., Any]:
    return view


def _vo_patterns(challenge: Callable[[Callable[..., Any]], Callable[..., Any]]) -> list[URLPattern | URLResolver]:
    """The endpoints VO clients call, each view passed through ``wrap``; a TAP+ login session counts in all."""
    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        return views.tap_plus_session(challenge(view))

    return [
        path("sync", wrap(views.sync), name="sync"),
        path("async", wrap(views.async_jobs), name="async"),
        path("async/<uuid:job_id>", wrap(views.job), name="job"),
        path("async/<uuid:job_id>/results/result", wrap(views.job_result), name="job_result"),
        path("async/<uuid:job_id>/<str:resource>", wrap(views.job), name="job_resource"),
        # Open in both families: pyvo's AuthSession reads it anonymously to learn which URLs need credentials.
        path("capabilities", views.capabilities, name="capabilities"),
        path("availability", views.availability, name="availability"),  # VOSI: open to everyone, always
        path("tables", wrap(views.tables), name="tables"),
        # Unchallenged: pyvo fetches tables/{name} without its session's credentials; it serves what the sender may see.
        path("tables/<str:name>", views.tap_plus_session(views.table), name="table"),
        path("examples", wrap(views.examples), name="examples"),
    ]


urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.root, name="root"),
    path("login", views.tap_plus_login, name="login"),  # astroquery's TapPlus.login() / logout()
    path("logout", views.tap_plus_logout, name="logout"),
    *_vo_patterns(_same),
    path("jobs/<uuid:job_id>/", views.job_page, name="job_page"),
    path("results/<str:token>", views.signed_result, name="signed_result"),
    path("links/<str:token>", views.signed_query, name="signed_query"),
    re_path(r"^auth/+", include((_vo_patterns(views.challenged), app_name), namespace="auth")),
    re_path(r"^[/]+", include((_vo_patterns(_same), app_name), namespace="slash")),
]
