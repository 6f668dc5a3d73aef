"""TAP UPLOAD by URL fetches only from public hosts or the portal itself (apps/tap/uploads.py)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from apps.tap.params import ParameterError
from apps.tap.uploads import read_bytes

CSV = b"id,secret\n1,inside\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.end_headers()
        self.wfile.write(CSV)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def inside() -> Iterator[int]:
    """A server on loopback: a stand-in for anything on the portal's own network."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _elsewhere(settings: Any) -> None:
    settings.SITE_URL = "http://portal.example.org"
    settings.TAP_UPLOAD_PRIVATE_HOSTS = False


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1", "2130706433", "0.0.0.0", "[::1]",  # noqa: S104
                                  "[::ffff:127.0.0.1]", "169.254.169.254", "10.0.0.1", "[fd00::1]"])
def test_it_refuses_private_addresses(host: str, inside: int) -> None:
    with pytest.raises(ParameterError):
        read_bytes(f"http://{host}:{inside}/t.csv", {})


@pytest.mark.parametrize("uri", ["file:///etc/passwd", "ftp://example.org/t.csv", "gopher://127.0.0.1/", "/etc/passwd"])
def test_it_refuses_other_schemes(uri: str) -> None:
    with pytest.raises(ParameterError):
        read_bytes(uri, {})


def test_it_refuses_a_name_that_resolves_inside_on_the_second_lookup(inside: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: public when checked, loopback when connected."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            lookups.append(host)
            address = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(ParameterError):
        read_bytes(f"http://rebind.example:{inside}/t.csv", {})
    assert len(lookups) >= 2


def test_it_refuses_redirects_from_the_portal_to_inside(settings: Any, inside: int) -> None:
    settings.SITE_URL = f"http://127.0.0.1:{inside}"
    assert read_bytes(f"http://127.0.0.1:{inside}/t.csv", {}) == CSV  # the portal itself is fine
    for target in (f"http://localhost:{inside}/t.csv", f"http://[::1]:{inside}/t.csv", "file:///etc/passwd"):
        with pytest.raises(ParameterError):
            read_bytes(f"http://127.0.0.1:{inside}/redirect?to={target}", {})
