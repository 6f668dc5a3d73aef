from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from . import actions
from .models import ApiToken, Profile
from .validators import validate_username_not_email


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False


@admin.action(description="Activate the selected accounts (and tell their owners)")
def activate_users(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[User]) -> None:
    manager = request.user
    assert isinstance(manager, User)
    for user in queryset.filter(is_active=False):
        actions.do_activate_user(manager, user)
    messages.success(request, "Done.")


class NotEmailUsername:
    """Administrators may not give a user name shaped like an e-mail address either."""

    cleaned_data: dict[str, object]

    def clean_username(self) -> str:
        inherited = getattr(super(), "clean_username", None)  # the creation form's case-blind uniqueness check
        username = str(inherited() if inherited else self.cleaned_data.get("username", ""))
        validate_username_not_email(username)
        return username


class PortalUserCreationForm(NotEmailUsername, AdminUserCreationForm):
    pass


class PortalUserChangeForm(NotEmailUsername, UserChangeForm):
    pass


class PortalUserAdmin(UserAdmin):
    form = PortalUserChangeForm
    add_form = PortalUserCreationForm
    inlines = [ProfileInline]
    actions = [activate_users]
    list_display = ("username", "email", "first_name", "last_name", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser", "groups", "profile__confirmed")
    search_fields = ("username", "email", "first_name", "last_name", "profile__affiliation")


admin.site.unregister(User)
admin.site.register(User, PortalUserAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created", "last_used")
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("prefix", "key_hash", "created", "last_used")
