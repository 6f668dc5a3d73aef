"""WebSocket routes of every app, gathered for daiquiri/asgi.py."""

from django.urls import URLPattern, path

from apps.query.consumers import JobStatusConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/query/jobs/", JobStatusConsumer.as_asgi()),  # type: ignore[arg-type]
]
