"""Failed HTTP Basic/token logins: counted atomically, per account and per client address.

The concurrency tests run real threads against the real Redis cache and count the
password checks the hasher actually performs.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.http import HttpRequest
from django.test import RequestFactory

from apps.accounts.addresses import client_address
from apps.accounts.authentication import AuthenticationFailed, user_from_header

LIMIT = 10
guesses: set[str] = set()  # every password the hasher was asked to verify (each backend verifies once per attempt)
_lock = threading.Lock()


class CountingHasher(MD5PasswordHasher):
    """The test's fast hasher, noting every password it verifies."""

    def verify(self, password: str, encoded: str) -> bool:
        with _lock:
            guesses.add(password)
        return super().verify(password, encoded)


def checks() -> int:
    return len(guesses)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def request(header: str, address: str = "192.0.2.1", forwarded: str | None = None) -> HttpRequest:
    extra = {"HTTP_AUTHORIZATION": header, "REMOTE_ADDR": address}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    made = RequestFactory().get("/accounts/api/me", **extra)
    made.user = AnonymousUser()  # as AuthenticationMiddleware leaves it before the header is read
    return made


def attempt(header: str, address: str = "192.0.2.1", forwarded: str | None = None) -> User | None:
    """The user, or None when refused (wrong or too many)."""
    try:
        return user_from_header(request(header, address, forwarded))
    except AuthenticationFailed:
        return None
    finally:
        connection.close()  # each thread's own connection


@pytest.fixture(params=["redis", "embedded"])
def redis_cache(request: pytest.FixtureRequest, settings: Any, tmp_path: Any) -> Iterator[None]:
    """The counters on Redis, and on the embedded default (no REDIS_URL: the file cache made atomic)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:6379/0", "KEY_PREFIX": f"t-{uuid.uuid4().hex}"}
                       if request.param == "redis" else
                       {"BACKEND": "apps.core.cache.AtomicFileBasedCache", "LOCATION": str(tmp_path / "cache")}}
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    settings.AUTH_FAILURES_ALLOWED = LIMIT
    settings.TRUSTED_PROXIES = []
    guesses.clear()
    yield
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def alice(redis_cache: None, transactional_db: None) -> User:
    return User.objects.create_user("alice", "alice@example.org", "alice-password")


def in_parallel(headers: list[tuple[str, str]]) -> list[User | None]:
    barrier = threading.Barrier(len(headers))

    def one(item: tuple[str, str]) -> User | None:
        barrier.wait()
        return attempt(*item)

    with ThreadPoolExecutor(len(headers)) as pool:
        return list(pool.map(one, headers))


def test_80_parallel_wrong_passwords_make_at_most_the_limit_of_password_checks(alice: User) -> None:
    results = in_parallel([(basic("alice", f"guess-{n}"), "192.0.2.66") for n in range(80)])
    assert results == [None] * 80
    assert checks() <= LIMIT, f"{checks()} password checks for a limit of {LIMIT}"
    assert checks() >= LIMIT // 2  # the limit is not a wall against the first attempt either


def test_the_owner_gets_in_from_elsewhere_while_one_address_hammers_the_account(alice: User) -> None:
    in_parallel([(basic("alice", f"guess-{n}"), "192.0.2.66") for n in range(80)])
    assert attempt(basic("alice", "alice-password"), "192.0.2.66") is None  # the attacker's address is locked out
    assert attempt(basic("alice", "alice-password"), "198.51.100.7") == alice


def test_other_accounts_at_the_attackers_address_are_not_locked_out(alice: User) -> None:
    bob = User.objects.create_user("bob", "bob@example.org", "bob-password")
    for n in range(3 * LIMIT):
        attempt(basic("alice", f"guess-{n}"), "192.0.2.66")
    assert attempt(basic("bob", "bob-password"), "192.0.2.66") == bob


def test_many_addresses_together_meet_a_per_account_cap(alice: User) -> None:
    for n in range(20 * LIMIT):
        attempt(basic("alice", f"guess-{n}"), f"10.0.{n // 250}.{n % 250}")
    assert checks() <= 10 * LIMIT
    assert attempt(basic("alice", "alice-password"), "198.51.100.7") is None


def test_one_address_trying_many_accounts_meets_a_per_address_cap(alice: User) -> None:
    for n in range(20 * LIMIT):
        attempt(basic(f"user{n}", "password"), "192.0.2.66")
    assert attempt(basic("alice", "alice-password"), "192.0.2.66") is None
    assert attempt(basic("alice", "alice-password"), "198.51.100.7") == alice


def test_user_name_case_does_not_give_fresh_attempts(alice: User) -> None:
    names = ["alice", "Alice", "ALICE", "aLiCe", " alice"]
    for n in range(3 * LIMIT):
        attempt(basic(names[n % len(names)], f"guess-{n}"), "192.0.2.66")
    assert checks() <= LIMIT


def test_a_forged_x_forwarded_for_does_not_reset_the_count(alice: User) -> None:
    for n in range(3 * LIMIT):
        attempt(basic("alice", f"guess-{n}"), "192.0.2.66", forwarded=f"203.0.113.{n}")
    assert checks() <= LIMIT


def test_behind_a_trusted_proxy_each_client_is_counted_apart(alice: User, settings: Any) -> None:
    from apps.core.env import env_networks

    settings.TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES", environ={"TRUSTED_PROXIES": "10.1.0.0/16"})
    for n in range(3 * LIMIT):
        attempt(basic("alice", f"guess-{n}"), "10.1.0.5", forwarded=f"203.0.113.{n}, 192.0.2.66")
    assert checks() <= LIMIT
    assert attempt(basic("alice", "alice-password"), "10.1.0.5", forwarded="198.51.100.7") == alice


def test_successful_logins_do_not_count(alice: User) -> None:
    for _ in range(3 * LIMIT):
        assert attempt(basic("alice", "alice-password"), "192.0.2.66") == alice


@pytest.mark.parametrize(("remote", "forwarded", "trusted", "client"), [
    ("192.0.2.1", None, "", "192.0.2.1"),
    ("192.0.2.1", "203.0.113.9", "", "192.0.2.1"),  # nobody trusted: the header is the client's own words
    ("10.0.0.2", "203.0.113.9", "10.0.0.0/8", "203.0.113.9"),
    ("10.0.0.2", "6.6.6.6, 203.0.113.9", "10.0.0.0/8", "203.0.113.9"),  # the left part was written by the client
    ("10.0.0.2", "203.0.113.9, 10.0.0.7", "10.0.0.0/8", "203.0.113.9"),  # two proxies of ours
    ("10.0.0.2", "garbage", "10.0.0.0/8", "10.0.0.2"),
    ("::1", "2001:db8::5", "::1", "2001:db8::5"),
])
def test_the_client_address_believes_only_trusted_proxies(settings: Any, remote: str, forwarded: str | None,
                                                          trusted: str, client: str) -> None:
    from apps.core.env import env_networks

    settings.TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES", environ={"TRUSTED_PROXIES": trusted})
    assert client_address(request("", remote, forwarded)) == client


# --- the login page counts the same way -------------------------------------------------------------

def page_login(client: Any, login: str, password: str, address: str) -> bool:
    client.post("/accounts/login/", {"login": login, "password": password}, REMOTE_ADDR=address)
    return "_auth_user_id" in client.session


@pytest.fixture
def verified_alice(alice: User) -> User:
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    return alice


def test_the_login_page_lets_the_owner_in_from_elsewhere_while_one_address_hammers(verified_alice: User) -> None:
    from django.test import Client

    for n in range(2 * LIMIT):
        assert not page_login(Client(), "alice", f"guess-{n}", "192.0.2.66")
    assert checks() <= LIMIT
    assert not page_login(Client(), "alice", "alice-password", "192.0.2.66")
    assert not page_login(Client(), "alice@example.org", "alice-password", "192.0.2.66")  # the address is the same account
    assert page_login(Client(), "alice", "alice-password", "198.51.100.7")


def test_parallel_wrong_passwords_on_the_login_page_make_at_most_the_limit_of_checks(verified_alice: User) -> None:
    from allauth.account.adapter import get_adapter
    from django.core.exceptions import ValidationError

    def one(n: int) -> None:
        made = RequestFactory().post("/accounts/login/", REMOTE_ADDR="192.0.2.66")
        made.user = AnonymousUser()
        made.session = {}  # type: ignore[assignment]
        barrier.wait()
        try:
            get_adapter(made).authenticate(made, username="alice", password=f"guess-{n}")
        except ValidationError:
            pass
        finally:
            connection.close()

    barrier = threading.Barrier(60)
    with ThreadPoolExecutor(60) as pool:
        list(pool.map(one, range(60)))
    assert checks() <= LIMIT, f"{checks()} password checks for a limit of {LIMIT}"


# --- a burst of correct requests is never refused ------------------------------------------------------

@pytest.mark.parametrize("redis_cache", ["redis"], indirect=True)  # a throughput test: the embedded file lock is slower
def test_80_parallel_correct_passwords_all_get_in_from_one_address(alice: User) -> None:
    results = in_parallel([(basic("alice", "alice-password"), "192.0.2.10") for _ in range(80)])
    assert results == [alice] * 80
    assert attempt(basic("alice", "wrong"), "192.0.2.10") is None  # and a wrong one still fails


def test_a_remembered_password_stops_working_once_changed_or_the_account_is_disabled(alice: User) -> None:
    assert attempt(basic("alice", "alice-password")) == alice
    alice.set_password("new-password")
    alice.save()
    assert attempt(basic("alice", "alice-password")) is None
    assert attempt(basic("alice", "new-password")) == alice
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert attempt(basic("alice", "new-password")) is None


def test_remembered_credentials_skip_the_password_hash(alice: User) -> None:
    assert attempt(basic("alice", "alice-password")) == alice
    guesses.clear()
    for _ in range(20):
        assert attempt(basic("alice", "alice-password")) == alice
    assert checks() == 0
