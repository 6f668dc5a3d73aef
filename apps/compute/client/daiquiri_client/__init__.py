"""A small client for the portal, installed into the compute images.

Inside a job the portal passes its address and a token that lives as long as
the job: ``DAIQUIRI_URL`` and ``DAIQUIRI_TOKEN``. Standard library only, so it
works in any image with Python 3.

    from daiquiri_client import Portal
    portal = Portal()
    rows = portal.query("SELECT TOP 10 * FROM gaia.dr3")
    portal.volumes()
"""

from __future__ import annotations

import csv
import io
import json
import os
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["Portal", "PortalError"]


class PortalError(RuntimeError):
    """The portal answered with an error status."""


class Portal:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60) -> None:
        self.url = (url or os.environ.get("DAIQUIRI_URL", "")).rstrip("/")
        self.token = token or os.environ.get("DAIQUIRI_TOKEN", "")
        self.timeout = timeout
        if not self.url:
            raise PortalError("No portal address: pass url= or set DAIQUIRI_URL.")

    def request(self, method: str, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if self.token:
            all_headers["Authorization"] = f"Token {self.token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=all_headers)  # noqa: S310 (the portal's own URL)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise PortalError(f"{method} {path}: {exc.code} {exc.read()[:500].decode('utf-8', 'replace')}") from exc

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
