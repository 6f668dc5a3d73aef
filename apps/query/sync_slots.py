"""The per-user limit of synchronous queries, kept in Redis: one sorted set of running queries per user
(per client address for anonymous users), each entry expiring unless its web process beats for it.

Why Redis: counting the running queries in the portal database needs each query's job row written
before the count, so every small query paid a commit and a count before its first byte. Here taking
a slot is one atomic script (no overshoot, unlike the database count), and the job's records can be
written after the response (sync.py).

- ``take`` drops the entries whose expiry has passed (a killed process stops beating; its slots come
  back after QUERY_SYNC_STALE_AFTER_SECONDS, as the database count forgets its stale jobs), then adds
  the query if fewer than the limit remain. Times are the Redis server's, so web machines' clocks
  do not matter.
- ``refresh`` (the heartbeat thread) moves the expiry of live queries on; ``release`` frees a slot.
- ``None`` from ``take``: no Redis, or it failed; the caller counts in the database instead.

Keys carry the portal database's name: portals (and test databases) sharing one Redis keep apart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from django.conf import settings

from . import live

log = logging.getLogger(__name__)
PREFIX = "daiquiri:sync-slots:"

# KEYS[1] the owner's set; ARGV: member, limit, seconds an entry lives without a beat.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return 1
"""
# KEYS: owners' sets; ARGV[1] seconds to live, ARGV[2..] the members, in the order of KEYS.
_REFRESH = """
local now = redis.call('TIME')
local until_t = tonumber(now[1]) + tonumber(now[2]) / 1000000 + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', until_t, ARGV[i + 1])
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[1])) + 1)
end
return 1
"""


@dataclass(frozen=True)
class Slot:
    key: str
    member: str


def owner_key(owner_id: int | None, client_address: str) -> str:
    database = str(settings.DATABASES["default"]["NAME"])
    who = f"u{owner_id}" if owner_id is not None else f"a{client_address}"
    return f"{PREFIX}{database}:{who}"


def _lifetime() -> int:
    return int(settings.QUERY_SYNC_STALE_AFTER_SECONDS)


def take(key: str, member: str, limit: int) -> Slot | bool | None:
    """A slot (the query may run), False (``limit`` queries of this owner run), None (no Redis to ask)."""
    client = live._redis()
    if client is None:
        return None
    try:
        taken = client.eval(_TAKE, 1, key, member, limit, _lifetime())
    except redis.RedisError:
        log.warning("cannot count the running synchronous queries in Redis: counting in the database", exc_info=True)
        return None
    return Slot(key, member) if taken else False


def refresh(slots: Iterable[Slot]) -> None:
    """The queries of ``slots`` still run: their entries live another QUERY_SYNC_STALE_AFTER_SECONDS."""
    slots = list(slots)
    client = live._redis()
    if client is None or not slots:
        return
    client.eval(_REFRESH, len(slots), *(s.key for s in slots), _lifetime(), *(s.member for s in slots))


def release(slot: Slot) -> None:
    client = live._redis()
    if client is None:
        return
    try:
        client.zrem(slot.key, slot.member)
    except redis.RedisError:  # the entry expires by itself when nobody beats for it
        log.warning("could not free a synchronous query's slot in Redis", exc_info=True)
