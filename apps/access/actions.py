"""Side effects on groups and privileges. Pages, the API and the admin call these."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from apps.accounts.permissions import is_manager
from apps.activity import kinds
from apps.activity.actions import do_record_event

from .models import Group, Membership, Privilege, Resource
from .notifications import notify_invitation
from .permissions import can_grant
from .registry import resource_type

AnyUser = User | AnonymousUser
BUILTIN_NAMES = {"public", "anyone"}
GROUP_NAME_MAX = Group._meta.get_field("name").max_length or 150


def is_group_admin(user: AnyUser, group: Group) -> bool:
    if not user.is_authenticated:
        return False
    return is_manager(user) or group.memberships.filter(
        user=user, role=Membership.ROLE_ADMIN, status=Membership.STATUS_ACTIVE
    ).exists()


def _require_group_admin(user: AnyUser, group: Group) -> None:
    if group.is_builtin:
        raise PermissionDenied("The built-in groups are managed by the portal.")
    if not is_group_admin(user, group):
        raise PermissionDenied("Only the group's admins may do this.")


def _free_group_name(name: str, group: Group | None = None) -> str:
    """The name, stripped, if no other group (built-in ones included) has it in any letter case."""
    name = name.strip()
    if not name:
        raise ValidationError("A group needs a name.")
    if len(name) > GROUP_NAME_MAX:
        raise ValidationError(f"A group name has at most {GROUP_NAME_MAX} characters.")
    others = Group.objects.filter(name__iexact=name)
    if name.lower() in BUILTIN_NAMES:  # reserved even before the built-in groups exist
        raise _taken(name)
    if group is not None:
        others = others.exclude(pk=group.pk)
    if others.exists():
        raise _taken(name)
    return name


def _taken(name: str) -> ValidationError:
    return ValidationError(f"A group called {name!r} exists already.")


@transaction.atomic
def do_create_group(creator: User, name: str, description: str = "") -> Group:
    name = _free_group_name(name)
    try:
        with transaction.atomic():
            group = Group.objects.create(name=name, description=description, created_by=creator)
    except IntegrityError as exc:  # created concurrently; the database's case-blind unique index decides
        raise _taken(name) from exc
    Membership.objects.create(group=group, user=creator, role=Membership.ROLE_ADMIN, status=Membership.STATUS_ACTIVE)
    do_record_event(kinds.GROUP_CREATED, user=creator, summary=f"created group {name}", group=group.pk)
    return group


@transaction.atomic
def do_update_group(actor: User, group: Group, name: str, description: str) -> Group:
    _require_group_admin(actor, group)
    group.name, group.description = _free_group_name(name, group), description
    try:
        with transaction.atomic():
            group.save(update_fields=["name", "description"])
    except IntegrityError as exc:
        raise _taken(group.name) from exc
    do_record_event(kinds.GROUP_UPDATED, user=actor, summary=f"updated group {group.name}", group=group.pk)
    return group


@transaction.atomic
def do_invite(inviter: User, group: Group, invitee: User, role: str = Membership.ROLE_MEMBER) -> Membership:
    _require_group_admin(inviter, group)
    membership, created = Membership.objects.get_or_create(
        group=group, user=invitee, defaults={"role": role, "invited_by": inviter}
    )
    if not created:
        if membership.status == Membership.STATUS_ACTIVE:
            raise ValidationError(f"{invitee.username} is already a member of {group.name}.")
        membership.status, membership.role, membership.invited_by = Membership.STATUS_INVITED, role, inviter
        membership.save(update_fields=["status", "role", "invited_by"])
    do_record_event(kinds.GROUP_INVITED, user=inviter, summary=f"invited {invitee.username} to {group.name}", group=group.pk, invitee=invitee.pk)
    transaction.on_commit(lambda: notify_invitation(membership))
    return membership


@transaction.atomic
def do_respond_to_invitation(user: User, membership: Membership, accept: bool) -> Membership:
    if membership.user_id != user.pk or membership.status != Membership.STATUS_INVITED:
        raise PermissionDenied("This invitation is not open for you.")
    membership.status = Membership.STATUS_ACTIVE if accept else Membership.STATUS_DECLINED
    membership.save(update_fields=["status"])
    kind = kinds.GROUP_JOINED if accept else kinds.GROUP_DECLINED
    do_record_event(kind, user=user, summary=f"{'joined' if accept else 'declined'} {membership.group.name}", group=membership.group_id)
    return membership


def _active_admins(group: Group) -> int:
    return group.memberships.filter(role=Membership.ROLE_ADMIN, status=Membership.STATUS_ACTIVE).count()


@transaction.atomic
def do_remove_member(actor: User, membership: Membership) -> None:
    leaving = membership.user_id == actor.pk
    if not leaving:
        _require_group_admin(actor, membership.group)
    if membership.role == Membership.ROLE_ADMIN and membership.status == Membership.STATUS_ACTIVE and _active_admins(membership.group) == 1:
        raise ValidationError("A group keeps at least one admin: promote someone else first.")
    group, member = membership.group, membership.user
    membership.delete()
    kind = kinds.GROUP_LEFT if leaving else kinds.GROUP_MEMBER_REMOVED
    do_record_event(kind, user=actor, summary=f"{member.username} left {group.name}", group=group.pk, member=member.pk)


@transaction.atomic
def do_set_role(actor: User, membership: Membership, role: str) -> Membership:
    _require_group_admin(actor, membership.group)
    if role not in dict(Membership.ROLES):
        raise ValidationError(f"Unknown role {role!r}.")
    if membership.role == Membership.ROLE_ADMIN and role != Membership.ROLE_ADMIN and _active_admins(membership.group) == 1:
        raise ValidationError("A group keeps at least one admin.")
    membership.role = role
    membership.save(update_fields=["role"])
    summary = f"{membership.user.username} is now {role} of {membership.group.name}"
    do_record_event(kinds.GROUP_ROLE_CHANGED, user=actor, summary=summary, group=membership.group_id)
    return membership


@transaction.atomic
def do_create_resource(type: str, name: str, owner: User | None = None) -> Resource:
    resource_type(type)  # refuses unregistered types
    return Resource.objects.create(type=type, name=name, owner=owner)


@transaction.atomic
def do_grant(granter: AnyUser | None, resource: Resource, action: str, *, user: User | None = None, group: Group | None = None) -> Privilege:
    """Give ``action`` on ``resource`` to a user or a group.

    ``granter=None`` is the portal itself (publishing metadata, fixtures).
    """
    if (user is None) == (group is None):
        raise ValidationError("Give a privilege to exactly one user or one group.")
    if action not in resource_type(resource.type).actions:
        raise ValidationError(f"{action!r} is not an action of a {resource.type}.")
    if granter is not None:
        if not can_grant(granter, resource):
            raise PermissionDenied("You may not share this resource.")
        if group is not None and group.is_builtin and not is_manager(granter):
            raise PermissionDenied(f"Only managers may share with {group.name}.")
    try:
        with transaction.atomic():
            privilege, _ = Privilege.objects.get_or_create(
                resource=resource, action=action, user=user, group=group,
                defaults={"granted_by": granter if granter is not None and granter.is_authenticated else None},
            )
    except IntegrityError:  # two grants raced: the other one won, which is the same outcome
        privilege = Privilege.objects.get(resource=resource, action=action, user=user, group=group)
    if granter is not None:
        do_record_event(kinds.SHARED, user=granter, summary=f"shared {resource} ({action}) with {user or group}", resource=resource.pk, action=action)
    return privilege


@transaction.atomic
def do_revoke(revoker: AnyUser | None, privilege: Privilege) -> None:
    if revoker is not None and not can_grant(revoker, privilege.resource):
        raise PermissionDenied("You may not change the sharing of this resource.")
    resource, action, holder = privilege.resource, privilege.action, privilege.holder
    privilege.delete()
    if revoker is not None:
        do_record_event(kinds.UNSHARED, user=revoker, summary=f"stopped sharing {resource} ({action}) with {holder}", resource=resource.pk, action=action)


def builtin_group(kind: str) -> Group:
    """The Public or Anyone group, created on first use."""
    names = {Group.KIND_PUBLIC: "Public", Group.KIND_ANYONE: "Anyone"}
    group, _ = Group.objects.get_or_create(kind=kind, defaults={"name": names[kind]})
    return group
