"""Run the portal's processes for scripts/run: keep the task worker alive, stop everything together.

    supervise.py --worker "celery -A daiquiri worker ..." --web "uvicorn daiquiri.asgi:application ..."

- The worker is restarted whenever it exits, for whatever reason (a crash, the
  OOM killer, a SIGKILL), after 1 s; quicker deaths in a row back off to 30 s
  so a worker that cannot start does not spin. Each restart is logged with its
  count.
- The web server is the main process: when it exits, so does everything.
- SIGINT (Ctrl-C), SIGTERM or SIGHUP stop both at once: SIGTERM to each, then
  SIGKILL to whatever is left of their process groups after a grace period. Each child runs
  in its own process group, so a Celery pool process never outlives its parent.

``supervise.py --default-web-workers`` prints how many web server processes
scripts/run starts when WEB_WORKERS is not set: one per CPU, at most 4, and no
more than the memory available allows (about 1 GB each, as a web process runs
small queries on DuckDB beside its requests).

Celery's own pool already replaces a dead pool process; this covers the
worker's main process, which nothing else would bring back. Standard library
only: it runs before Django is set up and holds no state but process ids.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from types import FrameType

POLL_S = 0.2
FIRST_DELAY_S, MAX_DELAY_S = 1.0, 30.0
HEALTHY_AFTER_S = 60.0  # a worker that ran this long died of something else than failing to start
GRACE_S = float(os.environ.get("SUPERVISE_GRACE_S", "8"))


def say(message: str) -> None:
    print(f"supervise: {message}", file=sys.stderr, flush=True)


def start(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, start_new_session=True)  # noqa: S603  (the command lines scripts/run gives)


def kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each main process; SIGKILL to each group after GRACE_S (a Celery warm shutdown waits for tasks).

    Only the main processes get SIGTERM: Celery's stops its own pool processes in order.
    """
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:  # also the pool processes of a worker whose main process already left
        kill_group(proc, signal.SIGKILL)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            say(f"process {proc.pid} did not stop")


class Supervisor:
    def __init__(self, worker: list[str], web: list[str]) -> None:
        self.worker_command, self.web_command = worker, web
        self.stopping = False
        self.restarts = 0
        self.quick_deaths = 0  # in a row, each within HEALTHY_AFTER_S of its start

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        worker, web = start(self.worker_command), start(self.web_command)
        started = time.monotonic()
        try:
            while not self.stopping:
                if web.poll() is not None:
                    say(f"the web server stopped (exit code {web.returncode}); stopping the worker")
                    return web.returncode or 1
                if worker.poll() is not None:
                    worker, started = self._restart(worker, started)
                time.sleep(POLL_S)
            return 0
        finally:
            stop_all([web, worker])

    def _restart(self, worker: subprocess.Popen[bytes], started: float) -> tuple[subprocess.Popen[bytes], float]:
        lived = time.monotonic() - started
        kill_group(worker, signal.SIGKILL)  # pool processes left behind by a killed main process
        self.quick_deaths = self.quick_deaths + 1 if lived < HEALTHY_AFTER_S else 0
        delay = min(FIRST_DELAY_S * 2 ** max(0, self.quick_deaths - 1), MAX_DELAY_S)
        self.restarts += 1
        say(f"the worker stopped (exit code {worker.returncode}) after {lived:.0f} s; "
            f"restarting it in {delay:.0f} s (restart {self.restarts})")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self.stopping:
            time.sleep(POLL_S)
        if self.stopping:
            return worker, started
        return start(self.worker_command), time.monotonic()


MAX_WEB_WORKERS = 4
WEB_WORKER_BYTES = 1 << 30


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def default_web_workers() -> int:
    """Web server processes for this machine: one per CPU (a sync query holds a thread of its process for
    its whole run, and Python runs one thread at a time), at most MAX_WEB_WORKERS, at least one, and no
    more than the available memory holds at WEB_WORKER_BYTES each."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    memory = _available_memory()
    by_memory = memory // WEB_WORKER_BYTES if memory is not None else MAX_WEB_WORKERS
    return max(1, min(cpus, MAX_WEB_WORKERS, by_memory))


def main() -> int:
    if sys.argv[1:] == ["--default-web-workers"]:
        print(default_web_workers())
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", required=True, help="the task worker's command line (restarted when it exits)")
    parser.add_argument("--web", required=True, help="the web server's command line (its exit stops everything)")
    args = parser.parse_args()
    return Supervisor(shlex.split(args.worker), shlex.split(args.web)).run()


if __name__ == "__main__":
    sys.exit(main())
