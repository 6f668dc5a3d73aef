from django.contrib import admin
from django.http import HttpRequest

from apps.access.actions import do_create_resource

from .models import ComputeDomain, ComputeImage, ComputeJob


@admin.register(ComputeImage)
class ComputeImageAdmin(admin.ModelAdmin):
    list_display = ["name", "docker_image", "notebooks", "enabled"]
    exclude = ["resource"]

    def save_model(self, request: HttpRequest, obj: ComputeImage, form: object, change: bool) -> None:
        if not change:  # who may run it is shared afterwards on /access/resources/<id>/share
            obj.resource = do_create_resource("image", obj.name)
        super().save_model(request, obj, form, change)


@admin.register(ComputeDomain)
class ComputeDomainAdmin(admin.ModelAdmin):
    list_display = ["name", "docker_host", "cpus", "memory_mb", "max_runtime_s", "max_jobs", "network", "trusted", "enabled"]
    exclude = ["resource"]

    def save_model(self, request: HttpRequest, obj: ComputeDomain, form: object, change: bool) -> None:
        if obj.resource_id is None:  # who may run jobs here is shared afterwards on /access/resources/<id>/share
            obj.resource = do_create_resource("domain", obj.name)
        super().save_model(request, obj, form, change)


@admin.register(ComputeJob)
class ComputeJobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "image", "domain", "phase", "created", "exit_code"]
    list_filter = ["phase", "domain", "image"]
    readonly_fields = [f.name for f in ComputeJob._meta.fields]
