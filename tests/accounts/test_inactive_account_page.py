"""A new user under the activation workflow is told what happens next, not only 'This account is inactive'."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from .test_signup_and_approval import SIGNUP, sign_up_and_verify


@pytest.mark.django_db
def test_logging_in_before_activation_says_a_manager_activates_and_was_notified(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.ACCOUNT_APPROVAL = "activation"
    sign_up_and_verify(Client(), django_capture_on_commit_callbacks)
    response = Client().post(reverse("account_login"), {"login": "carol", "password": SIGNUP["password1"]}, follow=True)
    page = response.content.decode()
    assert "a manager activates every new account" in page and "managers were notified" in page
    assert "you will get an e-mail" in page and "This account is inactive." not in page
