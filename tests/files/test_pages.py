"""The file manager pages: default volumes, browsing, folder operations, previews, sharing."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from apps.files.actions import do_upload_file, volume_fs
from apps.files.models import RootVolume, Volume

from .conftest import client_for


def test_the_first_visit_makes_a_default_volume_in_each_root(users: Any, roots: dict[str, RootVolume]) -> None:
    page = client_for(users.owner).get("/files/")
    assert page.status_code == 200
    mine = Volume.objects.filter(owner=users.owner, is_default=True)
    assert {(v.root.name, v.name) for v in mine} == {("Storage", "persistent"), ("Temporary", "scratch")}
    assert all(v.directory.is_dir() for v in mine)
    client_for(users.owner).get("/files/")
    assert Volume.objects.filter(owner=users.owner).count() == 2  # not twice
    assert b"survey" in page.content and b"persistent" in page.content


def test_anonymous_visitors_are_sent_to_log_in(users: Any, volume: Volume) -> None:
    assert client_for(users.anonymous).get("/files/").status_code == 302
    assert client_for(users.anonymous).get(f"/files/v/{volume.pk}/").status_code == 302


def test_folders_are_made_renamed_moved_and_deleted_from_the_page(users: Any, volume: Volume) -> None:
    client = client_for(users.owner)
    url = f"/files/v/{volume.pk}/op"
    client.post(url, {"op": "mkdir", "here": "", "name": "results"})
    do_upload_file(users.owner, volume, "notes.txt", [b"hello"])
    client.post(url, {"op": "move", "here": "", "path": "notes.txt", "to": "results/notes-2.txt"})
    fs = volume_fs(volume)
    assert [e.name for e in fs.listdir("results")] == ["notes-2.txt"]
    page = client.get(f"/files/v/{volume.pk}/", {"path": "results"})
    assert b"notes-2.txt" in page.content and b"upload-form" in page.content
    client.post(url, {"op": "delete", "here": "", "path": "results"})
    assert fs.listdir() == []


def test_previews_show_text_fits_headers_and_tables(users: Any, roots: dict[str, RootVolume], volume: Volume) -> None:
    client = client_for(users.owner)
    data = Volume.objects.get(root=roots["survey"])
    text = client.get(f"/files/v/{data.pk}/preview", {"path": "stars.csv"})
    assert b"12.5" in text.content
    fits_page = client.get(f"/files/v/{data.pk}/preview", {"path": "image.fits"})
    assert b"TELESCOP" in fits_page.content and b"STARS" in fits_page.content and b"[deg]" in fits_page.content
    fits_json = client.get(f"/files/api/volumes/{data.pk}/preview/", {"path": "image.fits"}).json()
    assert fits_json["hdus"][0]["shape"] == [4, 3] and fits_json["hdus"][1]["table"]["total_rows"] == 5
    table = pa.table({"x": list(range(30)), "name": [f"s{i}" for i in range(30)]})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    do_upload_file(users.owner, volume, "t.parquet", [sink.getvalue().to_pybytes()])
    parquet = client.get(f"/files/api/volumes/{volume.pk}/preview/", {"path": "t.parquet"}).json()
    assert parquet["table"]["total_rows"] == 30 and len(parquet["table"]["rows"]) == 20


def test_images_are_shown_inline_but_html_never_is(users: Any, volume: Volume) -> None:
    do_upload_file(users.owner, volume, "plot.png", [b"\x89PNG\r\n\x1a\n"])
    do_upload_file(users.owner, volume, "evil.html", [b"<script>alert(1)</script>"])
    client = client_for(users.owner)
    image = client.get(f"/files/v/{volume.pk}/download", {"path": "plot.png", "inline": "1"})
    assert image["Content-Type"] == "image/png" and image["Content-Disposition"].startswith("inline")
    html = client.get(f"/files/v/{volume.pk}/download", {"path": "evil.html", "inline": "1"})
    assert html["Content-Disposition"].startswith("attachment") and html["Content-Type"] != "text/html"


def test_a_volume_is_shared_through_the_generic_sharing_page(users: Any, volume: Volume) -> None:
    client = client_for(users.owner)
    browse = client.get(f"/files/v/{volume.pk}/")
    assert f"/access/resources/{volume.resource_id}/share".encode() in browse.content
    client.post(f"/access/resources/{volume.resource_id}/share", {"action": "read", "group": users.group.pk})
    assert client_for(users.member).get(f"/files/v/{volume.pk}/").status_code == 200
    assert client_for(users.outsider).get(f"/files/v/{volume.pk}/").status_code == 404


def test_list_pages_take_the_same_number_of_queries_for_many_volumes(
    users: Any, roots: dict[str, RootVolume], django_assert_max_num_queries: Any
) -> None:
    from apps.access.actions import builtin_group, do_grant
    from apps.access.models import Group
    from apps.compute.actions import do_register_image
    from apps.files.actions import do_create_volume, do_share_volume

    image = do_register_image("busybox", "daiquiri/busybox:latest")
    do_grant(None, image.resource, "run", group=builtin_group(Group.KIND_PUBLIC))
    client = client_for(users.member)
    client.get("/files/")  # default volumes made once
    for i in range(8):
        do_share_volume(users.owner, do_create_volume(users.owner, roots["Storage"], f"v{i}"), "write", group=users.group)
    with django_assert_max_num_queries(30):
        assert len(client.get("/files/api/volumes/").json()) == 11
    with django_assert_max_num_queries(30):
        client.get("/files/")
    with django_assert_max_num_queries(30):
        assert b"v7" in client.get("/compute/").content


def test_a_large_fits_table_is_previewed_without_reading_it(users: Any, roots: dict[str, RootVolume]) -> None:
    import io
    import tracemalloc

    import numpy as np
    from astropy.io import fits

    from apps.files.previews import make_preview

    rows = 1_000_000
    table = fits.BinTableHDU.from_columns([fits.Column(name="flux", format="D", unit="Jy", array=np.arange(rows, dtype=float))])
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer)
    from apps.files.actions import do_create_volume

    RootVolume.objects.filter(pk=roots["Temporary"].pk).update(quota_bytes=20_000_000)
    volume = do_create_volume(users.owner, RootVolume.objects.get(pk=roots["Temporary"].pk), "big")
    do_upload_file(users.owner, volume, "big.fits", [buffer.getvalue()])  # 8 MB
    tracemalloc.start()
    preview = make_preview("big.fits", volume_fs(volume).open_read("big.fits"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    table_preview = preview["hdus"][1]["table"]
    assert table_preview["total_rows"] == rows and len(table_preview["rows"]) == 20
    assert table_preview["columns"][0]["unit"] == "Jy"
    assert peak < 2_000_000
