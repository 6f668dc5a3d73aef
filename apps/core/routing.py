"""WebSocket routes of every app, gathered for daiquiri/asgi.py."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
