"""The one permission API. Every check in every app goes through here.

- ``allowed_resources(user, action, type)``: the Resources a user may act on,
  as one queryset (a subquery, never a query per row).
- ``filter_allowed(user, action, queryset)``: narrow any model that has a
  ``resource`` foreign key, e.g. "every table this user may query".
- ``has_privilege(user, action, resource)``: a single yes/no.
- ``access_resource(user, action, resource)``: the checked lookup for views:
  404 when the user may not even see it, 403 when they see it but may not act.
- ``owns(user, owner_id)``: for private objects that are never shared (jobs).

Who holds a privilege: the owner (all actions), a superuser (all actions), a
user privilege, a privilege of an active group membership, the built-in
``Public`` group (every logged-in user) and ``Anyone`` (everybody).
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from .models import Group, Membership, Privilege, Resource
from .registry import GRANT, resource_type

M = TypeVar("M", bound=Model)
AnyUser = User | AnonymousUser

# The action whose absence hides a resource entirely (answered with 404).
SEE_ACTIONS = {"read", "query", "run", "submit", "write", GRANT}


def _holder_q(user: AnyUser) -> Q:
    """Privileges held by this user, directly or through a group."""
    anyone = Q(group__kind=Group.KIND_ANYONE)
    if not user.is_authenticated:
        return anyone
    my_groups = Membership.objects.filter(user=user, status=Membership.STATUS_ACTIVE).values("group_id")
    return anyone | Q(group__kind=Group.KIND_PUBLIC) | Q(user=user) | Q(group_id__in=my_groups)


def allowed_resources(user: AnyUser, action: str, type: str) -> QuerySet[Resource]:
    rtype = resource_type(type)
    if action not in rtype.actions:
        raise ValueError(f"{action!r} is not an action of resource type {type!r}")
    resources = Resource.objects.filter(type=type)
    if user.is_authenticated and user.is_superuser:
        return resources
    # A privilege of an action that implies this one counts too (query implies read: registry.py).
    granted = Privilege.objects.filter(_holder_q(user), action__in=rtype.granted_by(action), resource__type=type).values("resource_id")
    if user.is_authenticated:
        return resources.filter(Q(owner=user) | Q(id__in=granted))
    return resources.filter(id__in=granted)


def filter_allowed(user: AnyUser, action: str, queryset: QuerySet[M], type: str, field: str = "resource") -> QuerySet[M]:
    """Keep the rows of ``queryset`` whose ``field`` is a Resource the user may act on."""
    return queryset.filter(**{f"{field}__in": allowed_resources(user, action, type)})


def has_privilege(user: AnyUser, action: str, resource: Resource) -> bool:
    if user.is_authenticated and (user.is_superuser or resource.owner_id == user.pk):
        return action in resource_type(resource.type).actions
    return allowed_resources(user, action, resource.type).filter(pk=resource.pk).exists()


def actions_of(user: AnyUser, resource: Resource) -> set[str]:
    """All actions the user holds on one resource, in one query."""
    actions = set(resource_type(resource.type).actions)
    if user.is_authenticated and (user.is_superuser or resource.owner_id == user.pk):
        return actions
    held = Privilege.objects.filter(_holder_q(user), resource=resource).values_list("action", flat=True)
    return actions & resource_type(resource.type).with_implied(set(held))


def can_grant(user: AnyUser, resource: Resource) -> bool:
    return has_privilege(user, GRANT, resource)


def owns(user: AnyUser | None, owner_id: int | None) -> bool:
    """Private objects that are never shared (query and compute jobs): their owner and superusers."""
    if user is None or not user.is_authenticated:
        return False
    return owner_id == user.pk or bool(user.is_superuser)


def access_resource(user: AnyUser, action: str, resource: Resource) -> Resource:
    """Checked lookup: 404 if the user may do nothing with it, 403 if not this action."""
    held = actions_of(user, resource)
    if action in held:
        return resource
    if not held & SEE_ACTIONS:
        raise Http404(f"No such {resource.type}.")
    raise PermissionDenied(f"You may not {action} this {resource.type}.")
