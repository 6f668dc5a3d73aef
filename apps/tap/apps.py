from django.apps import AppConfig
from django.db.models.signals import post_delete


class TapConfig(AppConfig):
    name = "apps.tap"
    label = "tap"

    def ready(self) -> None:
        from apps.query.models import QueryJob

        from .signals import remove_job_uploads

        post_delete.connect(remove_job_uploads, sender=QueryJob, dispatch_uid="tap-remove-job-uploads")
