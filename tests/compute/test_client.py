"""The Python image's client library queries the portal from inside a job (no network: the gateway's socket)
with the job's short-lived token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.accounts.models import ApiToken
from apps.compute.models import ComputeDomain, ComputeImage, ComputeJob
from apps.files.actions import do_upload_file
from apps.files.models import RootVolume, Volume
from apps.uws import phases

SCRIPT = """
from daiquiri_client import Portal
portal = Portal()
volumes = {v['name']: v['id'] for v in portal.volumes()}
print(sorted(volumes))
print(portal.download(volumes['persistent'], 'hello.txt').decode())
portal.upload(volumes['persistent'], 'from-job.txt', b'written through the API')
rows = portal.query("SELECT TOP 3 table_name FROM TAP_SCHEMA.tables ORDER BY table_name")
print('tap rows', len(rows), sorted(rows[0]))
"""


@pytest.mark.django_db(transaction=True)
def test_a_job_uses_the_portal_api_with_its_own_token(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, python_image: ComputeImage,
    run: Callable[..., ComputeJob], portal: Any,
) -> None:
    from apps.files.actions import do_ensure_default_volumes

    persistent = next(v for v in do_ensure_default_volumes(users.owner) if v.name == "persistent")
    do_upload_file(users.owner, persistent, "hello.txt", [b"hello portal"])
    do_upload_file(users.owner, persistent, "job.py", [SCRIPT.encode()])
    job = run(users.owner, image=python_image, domain=domain, command="python3 job.py", workdir_volume=persistent)
    assert job.phase == phases.COMPLETED, (job.error, job.stderr[-3000:])
    assert "'persistent'" in job.stdout and "hello portal" in job.stdout
    assert "tap rows 3 ['table_name']" in job.stdout
    assert (persistent.directory / "from-job.txt").read_bytes() == b"written through the API"
    assert not ApiToken.objects.filter(user=users.owner).exists()  # the job's key is no API token
    assert job.token_hash == ""  # and it ended with the job
    assert Volume.objects.filter(owner=users.owner).count() == 2


def test_the_client_speaks_https_over_the_socket_when_the_gateway_leads_to_a_tls_port(tmp_path: Any, monkeypatch: Any) -> None:
    """A portal behind TLS only (COMPUTE_PORTAL_UPSTREAM unset, an https URL): TLS runs over the socket,
    and the certificate is checked against the portal's host name."""
    import socket
    import ssl
    import subprocess
    import threading

    from apps.compute.client.daiquiri_client import Portal

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=portal.test",
                    "-addext", "subjectAltName=DNS:portal.test", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    path = str(tmp_path / "portal.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    seen: list[bytes] = []

    def serve_once() -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        connection, _ = listener.accept()
        with context.wrap_socket(connection, server_side=True) as tls:
            seen.append(tls.recv(65536))
            tls.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]')

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    monkeypatch.setenv("DAIQUIRI_URL", "https://portal.test")
    monkeypatch.setenv("DAIQUIRI_SOCKET", path)
    monkeypatch.setenv("DAIQUIRI_SOCKET_TLS", "1")
    monkeypatch.setenv("DAIQUIRI_TOKEN", "djob_x")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    try:
        assert Portal().volumes() == []
    finally:
        thread.join(5)
        listener.close()
    assert seen[0].startswith(b"GET /files/api/volumes/ HTTP/1.1") and b"Host: portal.test" in seen[0]
