"""The embedded portal as ``scripts/run`` starts it, driven from outside like a TAP client would.

Used by tests/query/test_embedded_portal.py, and by hand for the full load figure:

    .venv/bin/python -m tests.query.embedded_portal --jobs 300 --clients 10

``start_portal`` runs ``scripts/run`` (SQLite portal, SQLite broker, supervised
Celery worker, uvicorn) with its own var directory and a clean environment, so
none of the test services (PostgreSQL, Redis) is used. ``run_load`` submits
async TAP jobs from concurrent clients, each with its own HTTP session.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from astropy.io.votable import parse_single_table

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"COMPLETED", "ERROR", "ABORTED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Portal:
    proc: subprocess.Popen[bytes]
    var: Path
    base: str
    log: Path

    @property
    def tap(self) -> str:
        return f"{self.base}/tap"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def restarts(self) -> int:
        return len(re.findall(r"supervise: the worker stopped", self.output()))

    def processes(self) -> list[int]:
        """Every live process started for this portal (they all carry its DAIQUIRI_VAR_DIR)."""
        marker = f"DAIQUIRI_VAR_DIR={self.var}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0") and _alive(entry):
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def worker_pid(self) -> int:
        """The Celery worker's main process: the supervisor's child running celery."""
        for pid in self.processes():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and b"celery" in cmdline:
                return pid
        raise LookupError("no worker process")

    def available(self) -> tuple[bool, str]:
        body = requests.get(f"{self.tap}/availability", timeout=10).text
        up = re.search(r"<avail:available>(\w+)</avail:available>", body)
        note = re.search(r"<avail:note>(.*?)</avail:note>", body, re.S)
        return (up is not None and up.group(1) == "true"), (note.group(1) if note else "")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def _alive(entry: Path) -> bool:
    try:
        return (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_portal(var: Path, extra_env: dict[str, str] | None = None, timeout: float = 240) -> Portal:
    """``scripts/run`` in a clean environment; returns once TAP says it is available."""
    port = free_port()
    var.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
           "DAIQUIRI_VAR_DIR": str(var), "PORT": str(port), "SKIP_SETUP_VENV": "1", **(extra_env or {})}
    log = var.parent / "portal.log"
    proc = subprocess.Popen([str(ROOT / "scripts" / "run")], cwd=ROOT, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    portal = Portal(proc, var, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"scripts/run stopped ({proc.returncode}):\n{portal.output()[-4000:]}")
        try:
            if portal.available()[0]:
                return portal
        except requests.RequestException:
            pass
        time.sleep(0.5)
    portal.stop(signal.SIGTERM)
    raise RuntimeError(f"the portal did not become available:\n{portal.output()[-4000:]}")


def submit(session: requests.Session, tap: str, query: str) -> str:
    """An async TAP job run at once (PHASE=RUN); returns its URL."""
    response = session.post(f"{tap}/async", data={"LANG": "ADQL", "QUERY": query, "PHASE": "RUN"}, allow_redirects=False,
                            timeout=60)
    assert response.status_code == 303, response.text[:500]
    return str(response.headers["Location"])


def phase(session: requests.Session, job_url: str) -> str:
    return session.get(f"{job_url}/phase", timeout=60).text.strip()


def wait_for(session: requests.Session, job_url: str, timeout: float, wanted: set[str] = FINAL) -> str:
    deadline = time.monotonic() + timeout
    current = phase(session, job_url)
    while current not in wanted and time.monotonic() < deadline:
        time.sleep(0.3)
        current = phase(session, job_url)
    return current


@dataclass
class LoadResult:
    phases: dict[str, int] = field(default_factory=dict)
    wrong_rows: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _client(tap: str, client: int, jobs: int, timeout: float) -> list[tuple[str, str, bool]]:
    """One client: submit all its jobs back to back (a backlog, like a script would), then wait for each."""
    session = requests.Session()
    submitted = []
    for n in range(jobs):
        rows = 1 + (client * jobs + n) % 7
        submitted.append((submit(session, tap, f"SELECT TOP {rows} source_id FROM gaia.source ORDER BY source_id"), rows))
    outcome = []
    for url, rows in submitted:
        final = wait_for(session, url, timeout)
        right = True
        if final == "COMPLETED":
            votable = session.get(f"{url}/results/result", timeout=60).content
            right = len(parse_single_table(io.BytesIO(votable)).array) == rows
        outcome.append((url, final, right))
    return outcome


def run_load(tap: str, jobs: int, clients: int, timeout: float = 600) -> LoadResult:
    result = LoadResult()
    started = time.monotonic()
    per_client = [jobs // clients + (1 if c < jobs % clients else 0) for c in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        for outcome in pool.map(lambda c: _client(tap, c, per_client[c], timeout), range(clients)):
            for url, final, right in outcome:
                result.phases[final] = result.phases.get(final, 0) + 1
                if not right:
                    result.wrong_rows.append(url)
    result.seconds = time.monotonic() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Load the embedded portal with async TAP jobs.")
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="embedded-load-")) / "var"
    portal = start_portal(var)
    try:
        worker = portal.worker_pid()
        result = run_load(portal.tap, args.jobs, args.clients)
        print(f"{args.jobs} jobs from {args.clients} clients in {result.seconds:.1f} s: {result.phases}; "
              f"wrong row counts: {len(result.wrong_rows)}; worker restarts: {portal.restarts()}; "
              f"same worker process: {worker == portal.worker_pid()}; available: {portal.available()}")
    finally:
        print("stopped with exit code", portal.stop(), "; processes left:", portal.processes())


if __name__ == "__main__":
    main()
