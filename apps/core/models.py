"""Worker heartbeats (which task workers are alive, for VOSI availability and the query pages) and the site's profile."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
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

    CACHE_KEY = "core:site-profile"

    def save(self, *args: object, **kwargs: object) -> None:
        self.pk = 1  # one row
        super().save(*args, **kwargs)  # type: ignore[arg-type]
        cache.delete(self.CACHE_KEY)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        cache.delete(self.CACHE_KEY)
        return super().delete(*args, **kwargs)

    @classmethod
    def current(cls) -> SiteProfile:
        """The one row, cached: every page's header and footer show the logo and contact address."""
        profile = cache.get(cls.CACHE_KEY)
        if profile is None:
            profile = cls.objects.filter(pk=1).first() or cls()
            cache.set(cls.CACHE_KEY, profile, 300)
        return profile


class DocPage(models.Model):
    """A documentation page the managers write in the admin, in Markdown (rendered and sanitised on display);
    every saved text is kept as a DocPageVersion, so a change can be looked at and undone."""

    slug = models.SlugField(unique=True, help_text="The page's address: /docs/<slug>/")
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown. HTML is reduced to safe tags; scripts and styles are removed.")
    order = models.IntegerField(default=0, help_text="Position in the list of pages; lower first.")
    published = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "title"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        latest = self.versions.order_by("-number").first()
        if latest is None or (latest.title, latest.body) != (self.title, self.body):
            self.versions.create(number=(latest.number + 1) if latest else 1, title=self.title, body=self.body)


class DocPageVersion(models.Model):
    page = models.ForeignKey(DocPage, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    saved = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["page", "number"], name="doc_page_version_unique")]

    def __str__(self) -> str:
        return f"{self.page.slug} v{self.number}"


class NewsItem(models.Model):
    """A release or announcement the managers write in the admin (Markdown); the home page shows the latest."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="Markdown, rendered safely (apps/core/docs.py).")
    date = models.DateField(help_text="Shown with the item; the newest come first.")
    published = models.BooleanField(default=True)

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name = "news item"

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.title}"
