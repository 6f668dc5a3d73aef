from django.apps import AppConfig


class DatalinkConfig(AppConfig):
    name = "apps.datalink"
    label = "datalink"
    verbose_name = "DataLink"
