"""A text progress bar for commands (the admin pages show the final count)."""

from __future__ import annotations

import time
from typing import Any


class ProgressBar:
    def __init__(self, out: Any, label: str, width: int = 30, every_s: float = 0.2) -> None:
        self.out, self.label, self.width, self.every_s = out, label, width, every_s
        self.started = self.last = time.monotonic()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s and (total is None or done < total):
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        if total:
            filled = int(self.width * min(done / total, 1))
            bar = "#" * filled + "." * (self.width - filled)
            self.out.write(f"\r{self.label} [{bar}] {100 * done / total:5.1f}% {done:,}/{total:,} rows, {rate:,.0f} rows/s")
        else:
            self.out.write(f"\r{self.label} {done:,} rows, {rate:,.0f} rows/s")
        self.out.flush()

    def finish(self, rows: int) -> None:
        elapsed = time.monotonic() - self.started
        self.out.write(f"\r{self.label}: {rows:,} rows in {elapsed:.1f} s" + " " * 40 + "\n")
