from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.permissions import is_manager

from . import actions
from .forms import ACTION_LABELS, GroupForm, InviteForm, ShareForm
from .models import Group, Membership, Privilege, Resource
from .permissions import can_grant
from .registry import resource_type


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def access_group(user: User, group_id: int) -> Group:
    """Members, invitees and managers see a group; others get 404."""
    group = get_object_or_404(Group, pk=group_id, kind=Group.KIND_USER)
    if is_manager(user) or group.memberships.filter(user=user).exclude(status=Membership.STATUS_DECLINED).exists():
        return group
    raise Http404("No such group.")


@login_required
def group_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.method == "POST":
        form = GroupForm(request.POST)
        if form.is_valid():
            try:
                group = actions.do_create_group(user, form.cleaned_data["name"], form.cleaned_data["description"])
            except ValidationError as exc:
                form.add_error("name", exc.messages[0])
            else:
                messages.success(request, f"The group {group.name} is created; invite its members here.")
                return redirect("access:group", group.pk)
    else:
        form = GroupForm()
    memberships = user.memberships.filter(status=Membership.STATUS_ACTIVE).select_related("group")
    invitations = user.memberships.filter(status=Membership.STATUS_INVITED).select_related("group", "invited_by")
    return render(request, "access/group_list.html", {"memberships": memberships, "invitations": invitations, "form": form})


@login_required
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    user = _user(request)
    group = access_group(user, group_id)
    members = group.memberships.exclude(status=Membership.STATUS_DECLINED).select_related("user", "user__profile")
    shared = Privilege.objects.filter(group=group).select_related("resource").order_by("resource__type", "resource__name")
    context = {
        "group": group, "members": members, "shared": shared,
        "is_admin": actions.is_group_admin(user, group), "invite_form": InviteForm(),
        "my_membership": next((m for m in members if m.user_id == user.pk and m.status == Membership.STATUS_ACTIVE), None),
        "edit_form": GroupForm(initial={"name": group.name, "description": group.description}),
    }
    return render(request, "access/group_detail.html", context)


def _run(request: HttpRequest, action: object, *args: object) -> None:
    """Call an action; show its refusal as a message rather than an error page."""
    try:
        action(*args)  # type: ignore[operator]
    except (ValidationError, PermissionDenied) as exc:
        text = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, text or "You may not do this.")


@login_required
@require_POST
def group_edit(request: HttpRequest, group_id: int) -> HttpResponse:
    group = access_group(_user(request), group_id)
    form = GroupForm(request.POST)
    if form.is_valid():
        _run(request, actions.do_update_group, _user(request), group, form.cleaned_data["name"], form.cleaned_data["description"])
    return redirect("access:group", group.pk)


@login_required
@require_POST
def group_invite(request: HttpRequest, group_id: int) -> HttpResponse:
    group = access_group(_user(request), group_id)
    form = InviteForm(request.POST)
    if form.is_valid():
        invitee = form.cleaned_data["user"]
        _run(request, actions.do_invite, _user(request), group, invitee, form.cleaned_data["role"])
        if not messages.get_messages(request):
            messages.success(request, f"{invitee.username} is invited.")
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("access:group", group.pk)


@login_required
@require_POST
def membership_update(request: HttpRequest, membership_id: int) -> HttpResponse:
    user = _user(request)
    membership = get_object_or_404(Membership, pk=membership_id)
    access_group(user, membership.group_id)
    operation = request.POST.get("operation")
    if operation == "remove":
        _run(request, actions.do_remove_member, user, membership)
        if membership.user_id == user.pk:
            return redirect("access:groups")
    elif operation in ("admin", "member"):
        _run(request, actions.do_set_role, user, membership, operation)
    return redirect("access:group", membership.group_id)


@login_required
def invitations(request: HttpRequest) -> HttpResponse:
    pending = _user(request).memberships.filter(status=Membership.STATUS_INVITED).select_related("group", "invited_by")
    return render(request, "access/invitations.html", {"invitations": pending})


@login_required
@require_POST
def invitation_respond(request: HttpRequest, membership_id: int) -> HttpResponse:
    user = _user(request)
    membership = get_object_or_404(Membership, pk=membership_id, user=user)
    accept = request.POST.get("answer") == "accept"
    _run(request, actions.do_respond_to_invitation, user, membership, accept)
    if accept:
        return redirect("access:group", membership.group_id)
    return redirect("access:invitations")


def _shareable_groups(user: User) -> QuerySet[Group]:
    """Users share with the groups they belong to; data publishers (staff) with any users' group; managers with any group,
    the built-in Public and Anyone too."""
    if is_manager(user):
        return Group.objects.order_by("kind", "name")
    if user.is_staff:
        return Group.objects.filter(kind=Group.KIND_USER).order_by("name")
    mine = Q(kind=Group.KIND_USER, memberships__user=user, memberships__status=Membership.STATUS_ACTIVE)
    return Group.objects.filter(mine).distinct()


@login_required
def share(request: HttpRequest, resource_id: int) -> HttpResponse:
    """The sharing dialogue of any resource: who may do what, add and remove."""
    user = _user(request)
    resource = get_object_or_404(Resource, pk=resource_id)
    if not can_grant(user, resource):
        raise Http404("No such resource.")
    rtype = resource_type(resource.type)
    form = ShareForm(request.POST or None, actions=rtype.actions, groups=_shareable_groups(user))
    if request.method == "POST":
        if "revoke" in request.POST:
            revoke = request.POST["revoke"]
            privilege = get_object_or_404(Privilege, pk=int(revoke) if revoke.isascii() and revoke.isdigit() else 0, resource=resource)
            _run(request, actions.do_revoke, user, privilege)
            return redirect("access:share", resource.pk)
        if form.is_valid():
            data = form.cleaned_data
            _run(request, lambda: actions.do_grant(user, resource, data["action"], user=data.get("user") or None, group=data.get("group")))
            return redirect("access:share", resource.pk)
    privileges = list(resource.privileges.select_related("user", "group").order_by("action"))
    for privilege in privileges:
        privilege.label = ACTION_LABELS.get(privilege.action, privilege.action)  # type: ignore[attr-defined]
    return render(request, "access/share.html", {"resource": resource, "rtype": rtype, "privileges": privileges, "form": form})
