"""The real VO clients (STILTS, TOPCAT, pyvo, astroquery) use the running portal of the TAP tests; astroquery's
login needs HTTPS (it sends credentials and its session cookie only over TLS), so a second server answers TLS."""

from __future__ import annotations

import pathlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.tap.conftest import ROOT, LiveTap, _free_port, _own_folders, live_tap, live_tap_env

__all__ = ["_own_folders", "live_tap", "live_tap_env"]


@dataclass(frozen=True)
class LiveTls:
    port: int
    cert: pathlib.Path  # the self-signed certificate for 127.0.0.1, to trust


@pytest.fixture(scope="module")
def live_tls(live_tap: LiveTap, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTls]:
    """The same portal (same database and folders) over TLS, with a self-signed certificate for 127.0.0.1."""
    root = tmp_path_factory.mktemp("tls")
    key, cert = root / "key.pem", root / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    port = _free_port()
    log = open(root / "uvicorn.log", "wb")  # closed below
    process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "uvicorn"), "daiquiri.asgi:application", "--host", "127.0.0.1",
                                "--port", str(port), "--ssl-keyfile", str(key), "--ssl-certfile", str(cert),
                                "--log-level", "warning"], cwd=ROOT, env=live_tap.env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"https://127.0.0.1:{port}/tap/availability", verify=str(cert), timeout=2).ok:
                    break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "uvicorn.log").read_text()) from None
                time.sleep(0.3)
        yield LiveTls(port, cert)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
