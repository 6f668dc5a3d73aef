from django.contrib import admin

from .models import RootVolume, Volume


@admin.register(RootVolume)
class RootVolumeAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "path", "quota_bytes", "max_age_days"]
    readonly_fields = ["path"]  # set in the settings (FILES_ROOTS), not here


@admin.register(Volume)
class VolumeAdmin(admin.ModelAdmin):
    list_display = ["name", "root", "owner", "is_default", "created"]
    list_filter = ["root"]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner", "resource"]
