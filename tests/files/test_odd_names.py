"""Names a job may write that the portal would never make: bytes that are not UTF-8, newlines,
bidi marks, backslashes. They list (escaped), download, rename and delete, for the owner and for
everyone a volume is shared with; nothing answers 500."""

from __future__ import annotations

import os
from typing import Any

import pytest

from apps.files.actions import do_share_volume, volume_fs
from apps.files.models import Volume
from apps.files.paths import PathError, existing_name, shown

from .conftest import api, client_for

ODD = {b"bad\xff\xfe.txt": "bad\\xff\\xfe.txt", b"new\nline": "new\\u{a}line", "rtl\u202etxt".encode(): "rtl\\u{202e}txt",
       b"back\\slash": "back\\u{5c}slash", "caf\u00e9.txt".encode(): "caf\u00e9.txt"}


@pytest.fixture
def odd_volume(volume: Volume) -> Volume:
    volume_fs(volume).ensure()
    for raw in ODD:
        with open(os.path.join(os.fsencode(volume.directory), raw), "wb") as out:
            out.write(b"content of " + raw)
    os.mkdir(os.path.join(os.fsencode(volume.directory), b"dir\xff"))
    with open(os.path.join(os.fsencode(volume.directory), b"dir\xff", b"inner\xfe"), "wb") as out:
        out.write(b"inner")
    return volume


def test_escaped_names_are_reversible_and_plain_names_unchanged() -> None:
    for raw, escaped in ODD.items():
        name = os.fsdecode(raw)
        assert shown(name) == escaped
        assert existing_name(escaped) == name
    for bad in ("a\\", "a\\x41", "a\\u{2f}b", "a\\u{0}", "\\u{d800}", "x" * 256):
        with pytest.raises(PathError):
            existing_name(bad)


def test_odd_names_list_for_the_owner_and_a_shared_reader(users: Any, odd_volume: Volume) -> None:
    do_share_volume(users.owner, odd_volume, "read", to_user=users.member)
    for user in (users.owner, users.member):
        client = client_for(user)
        listing = client.get(api(odd_volume, "list"))
        assert listing.status_code == 200
        assert {e["name"] for e in listing.json()["entries"]} == {*ODD.values(), "dir\\xff"}
        assert client.get(api(odd_volume, "list"), {"path": "dir\\xff"}).json()["entries"][0]["name"] == "inner\\xfe"
        page = client.get(f"/files/v/{odd_volume.pk}/")
        assert page.status_code == 200 and "bad\\xff\\xfe.txt" in page.content.decode()
        assert client.get(f"/files/v/{odd_volume.pk}/", {"path": "dir\\xff"}).status_code == 200


def test_odd_names_download_rename_and_delete(users: Any, odd_volume: Volume) -> None:
    client = client_for(users.owner)
    download = client.get(api(odd_volume, "download"), {"path": "bad\\xff\\xfe.txt"})
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"content of bad\xff\xfe.txt"
    moved = client.post(api(odd_volume, "move"), {"path": "new\\u{a}line", "to": "newline.txt"}, content_type="application/json")
    assert moved.status_code == 200
    for name in ("bad\\xff\\xfe.txt", "rtl\\u{202e}txt", "back\\u{5c}slash", "dir\\xff/inner\\xfe", "dir\\xff"):
        answer = client.post(api(odd_volume, "delete"), {"path": name}, content_type="application/json")
        assert answer.status_code == 204, (name, answer.content)
    assert sorted(os.listdir(os.fsencode(odd_volume.directory))) == [b"caf\xc3\xa9.txt", b"newline.txt"]


def test_the_portal_still_makes_only_clean_names(users: Any, volume: Volume) -> None:
    client = client_for(users.owner)
    for name in ("bad\\xff.txt", "rtl\\u{202e}txt", "new\nline"):
        answer = client.put(api(volume, "upload") + "?path=" + name.replace("\n", "%0A"), b"x", content_type="application/octet-stream")
        assert answer.status_code == 400, name
