"""The publisher's side: admin pages for link templates, registry records and coverage; the authority check."""

from __future__ import annotations

from typing import Any

from django.core.checks import run_checks
from django.test import Client

from apps.registry.actions import do_sync_records
from apps.registry.models import RegistryRecord
from tests.conftest import make_user


def test_the_admin_lists_and_edits_what_the_registry_and_datalink_keep(demo: Any, client: Client, settings: Any) -> None:
    settings.REGISTRY_AUTHORITY = "data.example.org"
    do_sync_records()
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    for url in ("/admin/registry/registryrecord/", "/admin/registry/tablecoverage/", "/admin/datalink/linktemplate/",
                "/admin/datalink/linktemplate/add/"):
        assert client.get(url).status_code == 200, url
    record = RegistryRecord.objects.get(identifier="ivo://data.example.org/gaia/source")
    response = client.post(f"/admin/registry/registryrecord/{record.pk}/change/",
                           {"subjects": '["astrometry", "stars"]', "short_name": "GaiaDemo"})
    assert response.status_code == 302
    records = {r.identifier: r for r in do_sync_records()}
    resource = records["ivo://data.example.org/gaia/source"].resource
    assert resource is not None
    assert [s.text for s in resource.findall("content/subject")] == ["astrometry", "stars"]
    assert resource.findtext("shortName") == "GaiaDemo"


def test_a_malformed_authority_is_a_system_check_error(settings: Any) -> None:
    settings.REGISTRY_AUTHORITY = "ivo://not an authority"
    assert "registry.E001" in {m.id for m in run_checks()}
    settings.REGISTRY_AUTHORITY = "data.example.org"
    assert "registry.E001" not in {m.id for m in run_checks()}
