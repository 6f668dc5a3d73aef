"""The admin console: every registered model's list, search and add pages work."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group as DjangoGroup
from django.test import Client
from django.urls import reverse

from tests.conftest import FourUsers, make_user

MODELS = [model for model in admin.site._registry]


@pytest.mark.parametrize("model", MODELS, ids=[f"{m._meta.app_label}.{m._meta.model_name}" for m in MODELS])
def test_every_admin_page_opens_for_an_administrator(users: FourUsers, model: type) -> None:
    root = make_user("root", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(root)
    opts = model._meta  # type: ignore[attr-defined]
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert client.get(changelist).status_code == 200
    assert client.get(changelist, {"q": "x"}).status_code == 200
    add = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    assert add.status_code in (200, 403)  # 403: models that are never added by hand (the event log)


def test_managers_get_the_user_and_activity_pages_but_not_everything(users: FourUsers) -> None:
    manager = make_user("manager", is_staff=True)
    manager.groups.add(DjangoGroup.objects.get(name="managers"))
    client = Client()
    client.force_login(manager)
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
    assert client.get(reverse("admin:activity_event_changelist")).status_code == 200
    assert client.get(reverse("admin:auth_user_add")).status_code == 403


def test_outsiders_cannot_enter_the_admin_console(users: FourUsers) -> None:
    client = Client()
    client.force_login(users.outsider)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
