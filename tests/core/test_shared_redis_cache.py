"""Django makes a cache object per request under ASGI: with Redis they must share one client (one pool)."""

from __future__ import annotations

import os
from typing import Any

from django.core.cache import caches

REDIS = {"BACKEND": "apps.core.cache.SharedClientRedisCache", "LOCATION": "redis://127.0.0.1:6379/9"}


def test_cache_objects_made_for_each_request_share_one_redis_client_and_its_connections(settings: Any) -> None:
    settings.CACHES = {"default": REDIS}
    first, second = caches.create_connection("default"), caches.create_connection("default")
    first.set("shared-client-probe", "v", 30)
    assert second.get("shared-client-probe") == "v"
    assert first._cache is second._cache  # type: ignore[attr-defined]
    pool = first._cache._get_connection_pool(0)  # type: ignore[attr-defined]
    for _ in range(20):
        caches.create_connection("default").get("shared-client-probe")
    assert len(pool._available_connections) + len(pool._in_use_connections) == 1


def test_another_redis_location_gets_its_own_client(settings: Any) -> None:
    settings.CACHES = {"default": REDIS}
    one = caches.create_connection("default")
    settings.CACHES = {"default": {**REDIS, "LOCATION": "redis://127.0.0.1:6379/8"}}
    other = caches.create_connection("default")
    assert one._cache is not other._cache  # type: ignore[attr-defined]


def test_a_forked_child_reads_the_cache_through_its_own_connection(settings: Any) -> None:
    settings.CACHES = {"default": REDIS}
    cache = caches.create_connection("default")
    cache.set("fork-probe", 41, 30)
    pid = os.fork()
    if pid == 0:  # the child: exit status says whether it read the value
        os._exit(0 if caches.create_connection("default").incr("fork-probe") == 42 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("fork-probe") == 42
