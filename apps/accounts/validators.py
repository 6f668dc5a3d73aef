"""Rules for user names that every way of naming an account applies (sign-up, admin).

A user name must never look like an e-mail address: sharing, invitations and
logins accept "user name or e-mail", and a user name ``alice@example.org``
chosen by someone else would otherwise stand in for Alice.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

EMAIL_SHAPED = "A user name may not contain @: an e-mail address belongs in the e-mail field."


def validate_username_not_email(username: str) -> None:
    if "@" in username:
        raise ValidationError(EMAIL_SHAPED, code="email_shaped")
