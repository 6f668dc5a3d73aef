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
    rows = portal.query("SELECT TOP 10 * FROM gaia.dr3")            # dicts of strings
    df = portal.query_df("SELECT ra, dec FROM gaia.dr3 WHERE ...")  # a pandas DataFrame
    job = portal.submit("SELECT ... FROM gaia.dr3 ...", table="bright", engine="spark")
    portal.wait(job); df = portal.result_df(job); df = portal.mydb_df("bright")
    portal.volumes(); portal.run_job("python3 fit.py", mounts=[{"volume": 12, "write": True}])
    spark = portal.spark()  # where the session's compute domain offers Spark Connect (daiquiri_client.spark)
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import socket
import ssl
import time
import urllib.parse
from typing import Any

__all__ = ["Portal", "PortalError"]
MAX_REDIRECTS = 5


def _dataframe(parquet: bytes) -> Any:
    import pandas  # in the notebook image; the client itself needs only the standard library

    return pandas.read_parquet(io.BytesIO(parquet))


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

    def request(self, method: str, path: str, data: bytes | None = None, headers: dict[str, str] | None = None,
                follow: bool = True) -> bytes:
        """The answer's body; with ``follow`` False, a redirect's target instead (as bytes)."""
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
            if response.status in (301, 302, 303, 307, 308) and location and not follow:
                return location.encode()
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
    def query(self, adql: str, maxrec: int | None = None, engine: str | None = None) -> list[dict[str, str]]:
        """Run ADQL synchronously through TAP; rows as dicts of strings (CSV). ``engine`` asks for one
        (``spark``, ``duckdb`` ...) where the tables allow it; by default the portal chooses by size."""
        text = self._sync(adql, "csv", maxrec, engine)
        return list(csv.DictReader(io.StringIO(text.decode("utf-8"))))

    def query_df(self, adql: str, maxrec: int | None = None, engine: str | None = None) -> Any:
        """The same, as a pandas DataFrame with the columns' types (Parquet; needs pandas and pyarrow)."""
        return _dataframe(self._sync(adql, "parquet", maxrec, engine))

    def mydb_df(self, table: str) -> Any:
        """One of your MyDB tables (a query result you kept) as a DataFrame."""
        return self.query_df(f'SELECT * FROM mydb."{table}"')

    def submit(self, adql: str, table: str | None = None, engine: str | None = None) -> str:
        """Start an asynchronous TAP job (its result stays in your MyDB, as ``table`` if given);
        returns the job id for ``wait`` and ``result_df``."""
        params = {"LANG": "ADQL", "QUERY": adql, "PHASE": "RUN", "RESPONSEFORMAT": "parquet"}
        if table:
            params["TABLE_NAME"] = table
        if engine:
            params["ENGINE"] = engine
        location = self._post_form("/tap/async", params, follow=False)
        return location.rstrip("/").rsplit("/", 1)[-1]

    def wait(self, job_id: str, timeout: float = 600) -> str:
        """Wait until the job has finished; its final phase (COMPLETED, ERROR, ABORTED)."""
        deadline = time.monotonic() + timeout
        phase = ""
        while time.monotonic() < deadline:
            phase = self.request("GET", f"/tap/async/{job_id}/phase", headers={"Accept": "text/plain"}).decode().strip()
            if phase in ("COMPLETED", "ERROR", "ABORTED"):
                return phase
            wait = max(1, min(30, int(deadline - time.monotonic())))  # UWS blocking: returns when the phase changes
            self.request("GET", f"/tap/async/{job_id}?WAIT={wait}&PHASE={phase}", headers={"Accept": "*/*"})
        raise PortalError(f"job {job_id} has not finished after {timeout} s (phase {phase}).")

    def result_df(self, job_id: str) -> Any:
        """A finished job's result as a DataFrame."""
        return _dataframe(self.request("GET", f"/tap/async/{job_id}/results/result", headers={"Accept": "*/*"}))

    def _sync(self, adql: str, fmt: str, maxrec: int | None, engine: str | None) -> bytes:
        params = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql, "RESPONSEFORMAT": fmt}
        if maxrec is not None:
            params["MAXREC"] = str(maxrec)
        if engine:
            params["ENGINE"] = engine
        body = urllib.parse.urlencode(params).encode()
        return self.request("POST", "/tap/sync", body, {"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"})

    def _post_form(self, path: str, params: dict[str, str], follow: bool = True) -> str:
        """POST a form; the Location it answers with (UWS: the new job) when ``follow`` is False."""
        body = urllib.parse.urlencode(params).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"},
                            follow=follow).decode()

    # --- Spark -------------------------------------------------------------
    def spark(self) -> Any:
        """A Spark Connect session on the data centre's Spark, where the operator offers it to this
        session's compute domain; else ``daiquiri_client.spark.SparkUnavailable`` says what to use instead."""
        # deferred: images run spark.py and gateway.py with python3 -m; loaded by the package first, runpy warns and loads them twice
        from .spark import session

        return session()

    # --- batch jobs --------------------------------------------------------
    def run_job(self, command: str, image: str | None = None, mounts: list[dict[str, Any]] | None = None,
                workdir: dict[str, Any] | None = None, domain: str | None = None) -> dict[str, Any]:
        """Start a batch job next to the data (``mounts``: [{"volume": id, "write": bool}]); its JSON."""
        spec = {"command": command, "image": image, "mounts": mounts or [], "workdir": workdir or {}, "domain": domain}
        data = json.dumps({k: v for k, v in spec.items() if v is not None}).encode()
        return dict(json.loads(self.request("POST", "/compute/api/jobs/", data, {"Content-Type": "application/json"})))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"/compute/api/jobs/{job_id}/"))

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.get_json("/compute/api/jobs/"))

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
