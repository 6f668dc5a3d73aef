"""Who may do what with a volume: owner, group member, outsider, anonymous; read and write sharing."""

from __future__ import annotations

from typing import Any

import pytest

from apps.files.actions import do_share_volume, do_upload_file
from apps.files.models import RootVolume, Volume

from .conftest import api, client_for


def _statuses(user: Any, volume: Volume) -> dict[str, int]:
    client = client_for(user)
    return {
        "list": client.get(api(volume, "list")).status_code,
        "download": client.get(api(volume, "download"), {"path": "a.txt"}).status_code,
        "upload": client.put(api(volume, "upload") + "?path=b.txt", b"b", content_type="application/octet-stream").status_code,
        "mkdir": client.post(api(volume, "mkdir"), {"path": "d"}).status_code,
        "delete": client.post(api(volume, "delete"), {"path": "a.txt"}).status_code,
    }


NOTHING = {"list": 404, "download": 404, "upload": 404, "mkdir": 404, "delete": 404}
READ = {"list": 200, "download": 200, "upload": 403, "mkdir": 403, "delete": 403}
ANONYMOUS = {"list": 401, "download": 401, "upload": 401, "mkdir": 401, "delete": 401}


@pytest.mark.parametrize("sharing", ["none", "read", "write"])
def test_the_permission_matrix_of_a_volume(users: Any, volume: Volume, sharing: str) -> None:
    if sharing != "none":
        do_share_volume(users.owner, volume, sharing, group=users.group)
    expected_member = {"none": NOTHING, "read": READ}.get(sharing)
    for who, expected in (("outsider", NOTHING), ("anonymous", ANONYMOUS), ("member", expected_member)):
        do_upload_file(users.owner, volume, "a.txt", [b"a"])
        got = _statuses(getattr(users, who), volume)
        if expected is None:  # write sharing: everything works
            assert got == {"list": 200, "download": 200, "upload": 201, "mkdir": 201, "delete": 204}, who
        else:
            assert got == expected, (who, sharing)
    # The owner may do everything (the member's write test may have made "d" already).
    volume_dir = volume.directory
    for name in ("b.txt", "d"):
        target = volume_dir / name
        if target.is_dir():
            target.rmdir()
        elif target.exists():
            target.unlink()
    do_upload_file(users.owner, volume, "a.txt", [b"a"])
    assert _statuses(users.owner, volume) == {"list": 200, "download": 200, "upload": 201, "mkdir": 201, "delete": 204}


def test_a_data_volume_is_read_only_for_everybody(users: Any, roots: dict[str, RootVolume]) -> None:
    data = Volume.objects.get(root=roots["survey"])
    for user in (users.owner, users.member, users.outsider):
        client = client_for(user)
        assert client.get(api(data, "download"), {"path": "stars.csv"}).status_code == 200
        assert client.put(api(data, "upload") + "?path=x.txt", b"x", content_type="application/octet-stream").status_code == 403
        assert client.post(api(data, "delete"), {"path": "stars.csv"}).status_code == 403
    assert client_for(users.anonymous).get(api(data, "list")).status_code == 401
    assert (roots["survey"].path and (data.directory / "stars.csv").exists())


def test_volume_lists_show_only_what_a_user_may_read(users: Any, volume: Volume) -> None:
    names = {v["name"] for v in client_for(users.member).get("/files/api/volumes/").json()}
    assert "project" not in names and {"persistent", "scratch", "survey"} <= names
    client_for(users.owner).post(api(volume, "share"), {"action": "read", "group": users.group.name})
    shared = [v for v in client_for(users.member).get("/files/api/volumes/").json() if v["name"] == "project"]
    assert shared and shared[0]["actions"] == ["read"] and shared[0]["owner"] == "owner"


def test_only_those_who_may_grant_can_share(users: Any, volume: Volume) -> None:
    do_share_volume(users.owner, volume, "write", group=users.group)
    response = client_for(users.member).post(api(volume, "share"), {"action": "read", "user": "outsider"})
    assert response.status_code == 403


def test_write_granted_alone_on_the_sharing_page_implies_read(users: Any, volume: Volume) -> None:
    client_for(users.owner).post(f"/access/resources/{volume.resource_id}/share", {"action": "write", "group": users.group.pk})
    member = client_for(users.member)
    assert member.get(f"/files/v/{volume.pk}/").status_code == 200
    assert member.put(api(volume, "upload") + "?path=m.txt", b"m", content_type="application/octet-stream").status_code == 201
    assert "project" in {v["name"] for v in member.get("/files/api/volumes/").json()}


def test_deleting_a_volume_removes_its_files_and_sharing(users: Any, volume: Volume, django_capture_on_commit_callbacks: Any) -> None:
    do_upload_file(users.owner, volume, "a.txt", [b"a"])
    do_share_volume(users.owner, volume, "write", group=users.group)
    assert client_for(users.member).delete(f"/files/api/volumes/{volume.pk}/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(users.owner).delete(f"/files/api/volumes/{volume.pk}/").status_code == 204
    assert not volume.directory.exists()
    assert client_for(users.member).get(api(volume, "list")).status_code == 404
