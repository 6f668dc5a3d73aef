from django.apps import AppConfig


class ConesearchConfig(AppConfig):
    name = "apps.conesearch"
    label = "conesearch"
