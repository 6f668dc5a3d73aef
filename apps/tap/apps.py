from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.test.signals import setting_changed


class TapConfig(AppConfig):
    name = "apps.tap"
    label = "tap"

    def ready(self) -> None:
        # Models load only once the app registry is ready (apps.py loads before).
        from apps.core.models import WorkerHeartbeat
        from apps.query.models import QueryJob  # deferred: as above

        # deferred: availability.py and signals.py import the models, not loaded yet when apps.py is imported
        from . import availability
        from .signals import remove_job_uploads  # deferred: as above

        post_delete.connect(remove_job_uploads, sender=QueryJob, dispatch_uid="tap-remove-job-uploads")
        # The remembered availability answer goes when a worker's heartbeat comes or goes, or settings change.
        post_save.connect(availability.forget, sender=WorkerHeartbeat, dispatch_uid="tap-availability-heartbeat")
        post_delete.connect(availability.forget, sender=WorkerHeartbeat, dispatch_uid="tap-availability-heartbeat-gone")
        setting_changed.connect(availability.forget, dispatch_uid="tap-availability-settings")
