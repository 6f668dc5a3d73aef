"""allauth's login form with a clearer label.

Kept apart from forms.py: allauth imports forms.SignupForm while loading its own
forms module, so forms.py must not import allauth's forms.
"""

from __future__ import annotations

from typing import Any

from allauth.account.forms import LoginForm as AllauthLoginForm


class LoginForm(AllauthLoginForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "User name or e-mail"
