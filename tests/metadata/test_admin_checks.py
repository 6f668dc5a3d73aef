"""The admin console refuses what cannot be right: negative quotas, a DOI or licence that is not one."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from apps.query.models import QueryQuota
from tests.conftest import FourUsers, make_user

from .conftest import make_table


@pytest.mark.django_db
def test_a_negative_query_quota_is_refused(users: FourUsers, client: Client) -> None:
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    response = client.post("/admin/query/queryquota/add/", {"user": users.member.pk, "bytes": "-5"})
    assert response.status_code == 200 and "greater than or equal to 0" in response.content.decode()
    assert not QueryQuota.objects.exists()


@pytest.mark.django_db
def test_a_table_with_a_bad_doi_is_refused_beside_the_field(owner_is_publisher: FourUsers, science: Path, client: Client) -> None:
    from .test_pages import _change_form

    table = make_table(owner_is_publisher)
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    response = client.post(f"/admin/metadata/table/{table.pk}/change/", {**_change_form(table), "doi": "doi:10.5281/zenodo.1",
                                                                          "licence": "free"})
    page = response.content.decode()
    assert response.status_code == 200 and "Did you mean &#x27;10.5281/zenodo.1&#x27;" in page and "is not a licence we know" in page
