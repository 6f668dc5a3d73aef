"""Worker heartbeats (which task workers are alive, for VOSI availability and the query pages) and the site's profile."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """One running worker process, as it last reported itself (workers/heartbeat.py).

    A worker that stops cleanly deletes its row; a killed one's row goes stale and is removed a day later.
    """

    name = models.CharField(max_length=255, unique=True)  # Celery node name and process id
    started = models.DateTimeField()
    seen = models.DateTimeField(db_index=True)
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Its configuration (apps/core/fingerprint.py).")

    def __str__(self) -> str:
        return self.name


def _site_path_or_data(value: str) -> None:
    from django.core.exceptions import ValidationError

    if value and not (value.startswith("/") and not value.startswith("//")) and not value.startswith("data:image/"):
        raise ValidationError("Give a path on this site (e.g. /static/img/logo.svg) or a data:image/ URL: "
                              "pages load images only from the portal itself (Content-Security-Policy).")


class SiteProfile(models.Model):
    """What the data centre says about itself, edited in the admin (one row): the name and address are settings
    (SITE_NAME, SITE_URL; apps/core/branding.py), these are words and a picture that change more often."""

    home_text = models.TextField(blank=True, help_text="The home page's introduction; blank lines separate paragraphs.")
    logo = models.CharField(max_length=2000, blank=True, validators=[_site_path_or_data],
                            help_text="A path on this site (e.g. /static/img/logo.svg) or a data:image/ URL.")
    contact_email = models.EmailField(blank=True, help_text="Where users write to; shown on the home page.")

    class Meta:
        verbose_name = "site profile"

    def __str__(self) -> str:
        return "Site profile"

    def save(self, *args: object, **kwargs: object) -> None:
        self.pk = 1  # one row
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def current(cls) -> SiteProfile:
        return cls.objects.filter(pk=1).first() or cls()
