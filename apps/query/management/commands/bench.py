"""``python manage.py bench [--quick] [--only latency,download,memory,manga,viewer,others,scale] [--rows 10M] [--without-lsdb]``: the project's benchmarks."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from apps.metadata.generate import parse_size
from apps.query import bench, bench_scale

SCENARIOS = ("latency", "download", "memory", "manga", "viewer", "others", "scale")


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # keeps the memory child's start-up small
    help = "Run the benchmark scenarios and print each figure beside the raw engine's figure on the same data."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run of every scenario)")
        parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {', '.join(SCENARIOS)}")
        parser.add_argument("--rows", dest="scale_rows", type=parse_size, help="the scale scenario's table size: 10M, 100M (default 10M, 200k with --quick)")
        parser.add_argument("--without-lsdb", action="store_true", help="the scale scenario without LSDB (minutes per run at 100M)")
        parser.add_argument("--memory-child", nargs=3, metavar=("MODE", "ROWS", "FORMAT"), help="internal: the memory scenario's child")

    def handle(self, *args: Any, quick: bool, only: str, memory_child: list[str] | None, scale_rows: int | None = None,
               without_lsdb: bool = False, **options: Any) -> None:
        bench.configure()
        if memory_child:
            mode, rows, fmt = memory_child
            self.stdout.write(json.dumps(bench.memory_child(mode, int(rows), fmt)))
            return
        sizes = {
            "latency": 10 if quick else 50,
            "download": 100_000 if quick else 1_000_000,
            "memory": 1_000_000 if quick else 10_000_000,
            "manga": 200_000 if quick else 2_000_000,
            "viewer": 100_000 if quick else 1_000_000,
            "scale": scale_rows or (200_000 if quick else 10_000_000),
        }
        emit = self.stdout.write
        emit(f"  {'scenario':<44} {'ours':>22}   {'raw engine':>26}   ratio / note")
        for name in [s.strip() for s in only.split(",") if s.strip()]:
            if name not in SCENARIOS:
                self.stderr.write(f"unknown scenario {name}; choose from {', '.join(SCENARIOS)}")
                continue
            emit(f"[{name}]")
            try:
                if name == "others":
                    bench.bench_others(emit, quick)
                elif name == "scale":
                    bench_scale.bench_scale(emit, sizes[name], repeats=3 if quick else 5, lsdb=not without_lsdb)
                else:
                    getattr(bench, f"bench_{name}")(emit, sizes[name])
            except Exception as exc:  # report and go on with the other scenarios
                emit(f"  {name} failed: {type(exc).__name__}: {str(exc)[:300]}")
