"""File volumes: gaps next to tests/files (FIFOs, result paths, quota through saved results)."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from apps.files import actions
from apps.files.paths import PathError, QuotaExceeded
from tests.conftest import FourUsers

from .conftest import SECRET, OwnersThings, client_for


def test_it_does_not_hang_on_a_fifo_a_job_left_in_a_volume(users: FourUsers, things: OwnersThings) -> None:
    """A container may mkfifo in a volume; opening it for a download or preview must fail at once."""
    os.mkfifo(things.volume.directory / "pipe")
    outcome: list[Any] = []

    def read() -> None:
        try:
            actions.volume_fs(things.volume).open_read("pipe")
        except PathError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the reader so the test process can end
        os.close(os.open(things.volume.directory / "pipe", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("opening a FIFO blocked")
    assert outcome and "not a file" in str(outcome[0])
    client = client_for(users.owner)
    assert client.get(f"/files/v/{things.volume.pk}/download", {"path": "pipe"}).status_code in (400, 404)
    assert client.get(f"/files/api/volumes/{things.volume.pk}/preview/", {"path": "pipe"}).status_code == 400


@pytest.mark.parametrize("path", ["../escape.csv", "/etc/escape.csv", "results/../../escape.csv", "a\u202e.csv", "..\\x.csv"])
def test_it_keeps_saved_results_inside_the_volume(users: FourUsers, things: OwnersThings, path: str) -> None:
    with pytest.raises(PathError):
        actions.do_save_result_to_volume(users.owner, things.query_job, things.volume, path, "csv")
    assert not (things.volume.directory.parent / "escape.csv").exists()


def test_it_counts_saved_results_against_the_quota(users: FourUsers, things: OwnersThings, settings: Any) -> None:
    root = things.volume.root
    root.quota_bytes = actions.usage_bytes(users.owner.pk, root) + 10  # room for 10 bytes only
    root.save()
    things.volume.refresh_from_db()
    with pytest.raises(QuotaExceeded):
        actions.do_save_result_to_volume(users.owner, things.query_job, things.volume, "big.votable", "votable")
    assert sorted(p.name for p in things.volume.directory.iterdir()) == [f"{SECRET}.txt"]


def test_it_lets_only_the_jobs_owner_save_its_result(users: FourUsers, things: OwnersThings) -> None:
    """A member who may write the owner's volume still cannot copy the owner's result out through it."""
    actions.do_share_volume(users.owner, things.volume, "write", to_user=users.outsider)
    client = client_for(users.outsider)
    response = client.post(f"/files/api/volumes/{things.volume.pk}/save-result/",
                           {"job": str(things.query_job.id), "path": "stolen.csv", "format": "csv"})
    assert response.status_code in (403, 404)
    assert not (things.volume.directory / "stolen.csv").exists()
