"""A small client for the portal, installed into the compute images.

Inside a job the portal passes its address, the socket of its gateway and a
token that lives as long as the job: ``DAIQUIRI_URL``, ``DAIQUIRI_SOCKET`` and
``DAIQUIRI_TOKEN`` (and ``DAIQUIRI_SOCKET_TLS=1`` when the socket leads to the
portal's TLS port: HTTPS then runs over it, checked against the URL's host). Jobs have no network: requests go over the Unix socket
(``DAIQUIRI_SOCKET``), which reaches the portal's HTTP server and nothing
else; ``DAIQUIRI_URL`` only names the portal (its host and path prefix).
Outside a job, pass ``url=`` (and ``token=``) and plain HTTP(S) is used.
Standard library only, so it works in any image with Python 3.

    from daiquiri_client import Portal
    portal = Portal()
    rows = portal.query("SELECT TOP 10 * FROM gaia.dr3")
    portal.volumes()
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import socket
import ssl
import urllib.parse
from typing import Any

__all__ = ["Portal", "PortalError"]
MAX_REDIRECTS = 5


class PortalError(RuntimeError):
    """The portal answered with an error status, or could not be reached."""


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP (or HTTPS, with ``tls``) over a Unix socket; ``host`` is what the Host header and the
    certificate check say."""

    def __init__(self, socket_path: str, host: str, timeout: float, tls: bool = False) -> None:
        super().__init__(host, timeout=timeout)
        self.socket_path = socket_path
        self.tls = tls

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        if self.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


class Portal:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60, socket_path: str | None = None) -> None:
        self.url = (url or os.environ.get("DAIQUIRI_URL", "")).rstrip("/")
        self.token = token or os.environ.get("DAIQUIRI_TOKEN", "")
        self.socket_path = socket_path if socket_path is not None else ("" if url else os.environ.get("DAIQUIRI_SOCKET", ""))
        self.socket_tls = bool(os.environ.get("DAIQUIRI_SOCKET_TLS")) and not url
        self.timeout = timeout
        if not self.url:
            raise PortalError("No portal address: pass url= or set DAIQUIRI_URL.")
        parts = urllib.parse.urlsplit(self.url)
        self._scheme, self._host, self._prefix = parts.scheme, parts.netloc, parts.path.rstrip("/")

    def _connection(self) -> http.client.HTTPConnection:
        if self.socket_path:
            return UnixHTTPConnection(self.socket_path, self._host, self.timeout, tls=self.socket_tls)
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, timeout=self.timeout)
        return http.client.HTTPConnection(self._host, timeout=self.timeout)

    def request(self, method: str, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if self.token:
            all_headers["Authorization"] = f"Token {self.token}"
        target = self._prefix + path
        for _ in range(MAX_REDIRECTS):
            connection = self._connection()
            try:
                connection.request(method, target, body=data, headers=all_headers)
                response = connection.getresponse()
                body = response.read()
            except OSError as exc:
                raise PortalError(f"{method} {path}: the portal cannot be reached ({exc}).") from exc
            finally:
                connection.close()
            location = response.getheader("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                moved = urllib.parse.urlsplit(location)
                if moved.netloc and moved.netloc != self._host:
                    raise PortalError(f"{method} {path}: redirected away from the portal, to {location}.")
                target = moved.path + (f"?{moved.query}" if moved.query else "")
                if response.status == 303:
                    method, data = "GET", None
                continue
            if response.status >= 400:
                raise PortalError(f"{method} {path}: {response.status} {body[:500].decode('utf-8', 'replace')}")
            return bytes(body)
        raise PortalError(f"{method} {path}: too many redirects.")

    def get_json(self, path: str) -> Any:
        return json.loads(self.request("GET", path))

    def whoami(self) -> Any:
        return self.get_json("/files/api/volumes/")

    # --- TAP -------------------------------------------------------------
    def query(self, adql: str, maxrec: int | None = None) -> list[dict[str, str]]:
        """Run ADQL synchronously through TAP; rows as dicts of strings (CSV)."""
        params = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql, "RESPONSEFORMAT": "csv"}
        if maxrec is not None:
            params["MAXREC"] = str(maxrec)
        body = urllib.parse.urlencode(params).encode()
        text = self.request("POST", "/tap/sync", body, {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/csv"})
        return list(csv.DictReader(io.StringIO(text.decode("utf-8"))))

    # --- files -----------------------------------------------------------
    def volumes(self) -> list[dict[str, Any]]:
        return list(self.get_json("/files/api/volumes/"))

    def listdir(self, volume: int, path: str = "") -> list[dict[str, Any]]:
        quoted = urllib.parse.quote(path)
        return list(self.get_json(f"/files/api/volumes/{volume}/list/?path={quoted}")["entries"])

    def download(self, volume: int, path: str) -> bytes:
        return self.request("GET", f"/files/api/volumes/{volume}/download/?path={urllib.parse.quote(path)}", headers={"Accept": "*/*"})

    def upload(self, volume: int, path: str, content: bytes) -> Any:
        quoted = urllib.parse.quote(path)
        answer = self.request("PUT", f"/files/api/volumes/{volume}/upload/?path={quoted}", content, {"Content-Type": "application/octet-stream"})
        return json.loads(answer)
