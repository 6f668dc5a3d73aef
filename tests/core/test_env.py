from pathlib import Path

import pytest

from apps.core.env import EnvError, env_bool, env_choice, env_int, env_list, env_str


def test_it_reads_typed_values() -> None:
    env = {"N": "42", "B": "yes", "L": "a, b,,c", "C": "Redis"}
    assert env_int("N", 1, environ=env) == 42
    assert env_bool("B", environ=env) is True
    assert env_list("L", environ=env) == ["a", "b", "c"]
    assert env_choice("C", ("redis", "filesystem"), "filesystem", environ=env) == "redis"


def test_it_uses_defaults_when_unset() -> None:
    assert env_int("N", 7, environ={}) == 7
    assert env_bool("B", True, environ={}) is True
    assert env_str("S", "x", environ={}) == "x"


@pytest.mark.parametrize(
    ("reader", "message"),
    [
        (lambda e: env_int("N", 1, environ=e), "not a whole number"),
        (lambda e: env_bool("N", environ=e), "not a boolean"),
        (lambda e: env_choice("N", ("a", "b"), "a", environ=e), "not one of: a, b"),
    ],
)
def test_it_refuses_bad_values_naming_the_variable(reader: object, message: str) -> None:
    with pytest.raises(EnvError, match=message) as info:
        reader({"N": "maybe"})  # type: ignore[operator]
    assert "N='maybe'" in str(info.value)


def test_it_refuses_numbers_out_of_range() -> None:
    with pytest.raises(EnvError, match="above the maximum 65535"):
        env_int("PORT", 1, maximum=65535, environ={"PORT": "70000"})


def test_it_reads_secrets_from_file_variants(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    assert env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(secret), "SECRET_KEY": "ignored"}) == "s3cret"


def test_it_explains_an_unreadable_secret_file(tmp_path: Path) -> None:
    with pytest.raises(EnvError, match="cannot be read"):
        env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(tmp_path / "missing")})
