"""Groups, resources and privileges: SciServer's RACM model, kept small.

A Privilege ties one principal (a user or a group) to one action on one
Resource. Owners hold every action implicitly. Two built-in groups stand for
everybody: ``Public`` (every registered user) and ``Anyone`` (visitors who
are not logged in as well); only managers may give privileges to them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class Group(models.Model):
    KIND_USER = "user"
    KIND_PUBLIC = "public"
    KIND_ANYONE = "anyone"
    KINDS = [(KIND_USER, "Users' group"), (KIND_PUBLIC, "All registered users"), (KIND_ANYONE, "Anyone, also anonymous")]

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=KINDS, default=KIND_USER, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        # "team" beside "Team" (or a user group called "public") would pass for the other one.
        constraints = [models.UniqueConstraint(Lower("name"), name="group_name_unique_in_any_case",
                                               violation_error_message="A group with this name exists already.")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        return self.kind != self.KIND_USER


class Membership(models.Model):
    ROLE_ADMIN = "admin"
    ROLE_MEMBER = "member"
    ROLES = [(ROLE_ADMIN, "Admin"), (ROLE_MEMBER, "Member")]
    STATUS_INVITED = "invited"
    STATUS_ACTIVE = "active"
    STATUS_DECLINED = "declined"
    STATUSES = [(STATUS_INVITED, "Invited"), (STATUS_ACTIVE, "Active"), (STATUS_DECLINED, "Declined")]

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=ROLES, default=ROLE_MEMBER)
    status = models.CharField(max_length=10, choices=STATUSES, default=STATUS_INVITED, db_index=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="one_membership_per_group")]
        ordering = ["group__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.group} ({self.role}, {self.status})"


class Resource(models.Model):
    """Anything privileges can be given on; the owning app's model points here."""

    type = models.CharField(max_length=50, db_index=True)
    # Room for the longest names apps build, e.g. a volume's "<root>/<user name>/<volume name>" (100+150+100).
    name = models.CharField(max_length=512)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="owned_resources"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["type", "name"]
        indexes = [models.Index(fields=["type", "owner"])]

    def __str__(self) -> str:
        return f"{self.type} {self.name}"


class Privilege(models.Model):
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="privileges")
    action = models.CharField(max_length=30)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="privileges")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="privileges")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False),
                name="privilege_has_one_holder",
            ),
            models.UniqueConstraint(fields=["resource", "action", "user"], name="one_user_privilege"),
            models.UniqueConstraint(fields=["resource", "action", "group"], name="one_group_privilege"),
        ]
        indexes = [models.Index(fields=["action", "resource"])]

    def __str__(self) -> str:
        return f"{self.user or self.group} may {self.action} {self.resource}"

    @property
    def holder(self) -> object:
        return self.user or self.group
