"""The embedded cache counts exactly under concurrent processes (the login rate limit depends on it)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from apps.core.cache import AtomicFileBasedCache

PROCESSES, EACH = 6, 40


def _count(folder: str) -> None:
    cache = AtomicFileBasedCache(folder, {})
    for _ in range(EACH):
        cache.add("auth-fail:addr:198.51.100.7", 0, 60)
        cache.incr("auth-fail:addr:198.51.100.7")


def _claim(folder: str, results: multiprocessing.Queue[bool]) -> None:
    results.put(AtomicFileBasedCache(folder, {}).add("first", "me", 60))


def test_failed_logins_counted_by_several_processes_at_once_are_all_counted(tmp_path: Path) -> None:
    workers = [multiprocessing.Process(target=_count, args=(str(tmp_path),)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert AtomicFileBasedCache(str(tmp_path), {}).get("auth-fail:addr:198.51.100.7") == PROCESSES * EACH


def test_only_one_of_several_processes_adding_the_same_key_succeeds(tmp_path: Path) -> None:
    results: multiprocessing.Queue[bool] = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_claim, args=(str(tmp_path), results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(60)
    assert outcomes.count(True) == 1


def test_decrementing_gives_a_slot_back(tmp_path: Path) -> None:
    cache = AtomicFileBasedCache(str(tmp_path), {})
    cache.add("slots", 0, 60)
    assert cache.incr("slots") == 1 and cache.incr("slots") == 2
    assert cache.decr("slots") == 1


def test_a_counter_keeps_its_own_window_when_incremented(tmp_path: Path) -> None:
    cache = AtomicFileBasedCache(str(tmp_path), {})
    cache.add("window", 0, 1)
    cache.incr("window")
    time.sleep(1.2)
    assert cache.get("window") is None  # the failures' window ended; incrementing did not extend it


def test_a_full_cache_drops_expired_entries_and_keeps_live_counters(tmp_path: Path) -> None:
    cache = AtomicFileBasedCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 20}})
    cache.add("auth-fail:acct:alice", 0, 600)
    cache.incr("auth-fail:acct:alice")
    for n in range(19):  # an attacker's many addresses fill the cache with short-lived counters
        cache.set(f"auth-fail:addr:10.0.0.{n}", 1, 1)
    time.sleep(1.2)
    for n in range(10):  # the next ones make room: the expired go, not a random third of what is there
        cache.set(f"auth-fail:addr:10.0.1.{n}", 1, 60)
    assert cache.get("auth-fail:acct:alice") == 1
    assert len(list(tmp_path.glob("*.djcache"))) == 11
