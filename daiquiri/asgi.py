"""ASGI entry point: HTTP through Django, WebSockets through Channels routes; notebook sessions
(/compute/sessions/<id>/, HTTP and WebSocket) through the session proxy, outside Django's middleware."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daiquiri.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.compute.proxy import SessionProxy, is_session_path  # noqa: E402
from apps.core.checks import refuse_to_start_if_misconfigured  # noqa: E402
from apps.core.routing import websocket_urlpatterns  # noqa: E402

refuse_to_start_if_misconfigured()

session_proxy = AuthMiddlewareStack(SessionProxy())
websockets = URLRouter(websocket_urlpatterns)


async def http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    app = session_proxy if is_session_path(scope["path"]) else django_asgi_app
    await app(scope, receive, send)


async def websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Inside AuthMiddlewareStack: a session's sockets to its proxy, the rest to the Channels routes."""
    app = SessionProxy() if is_session_path(scope["path"]) else websockets
    await app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(websocket)),
    }
)
