from django.apps import AppConfig


class TapConfig(AppConfig):
    name = "apps.tap"
    label = "tap"
