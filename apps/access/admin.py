from django.contrib import admin

from .models import Group, Membership, Privilege, Resource


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fk_name = "group"
    autocomplete_fields = ["user"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "created_by", "created")
    list_filter = ("kind",)
    search_fields = ("name", "description")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "group", "role", "status", "created")
    list_filter = ("role", "status")
    search_fields = ("user__username", "group__name")


class PrivilegeInline(admin.TabularInline):
    model = Privilege
    extra = 0
    fk_name = "resource"
    autocomplete_fields = ["user", "group"]


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ("name", "type", "owner", "created")
    list_filter = ("type",)
    search_fields = ("name", "owner__username")
    inlines = [PrivilegeInline]


@admin.register(Privilege)
class PrivilegeAdmin(admin.ModelAdmin):
    list_display = ("resource", "action", "user", "group", "granted_by", "created")
    list_filter = ("action", "resource__type")
    search_fields = ("resource__name", "user__username", "group__name")
