from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from allauth.account.signals import email_confirmed, user_signed_up
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_migrate

        from . import signals  # deferred: signals.py imports the models, not loaded yet when apps.py is imported

        user_signed_up.connect(signals.on_user_signed_up)
        email_confirmed.connect(signals.on_email_confirmed)
        user_logged_in.connect(signals.on_logged_in)
        user_logged_out.connect(signals.on_logged_out)
        user_login_failed.connect(signals.on_login_failed)
        post_migrate.connect(signals.create_managers_group)
