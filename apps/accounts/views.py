from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import actions
from .forms import ProfileForm, TokenForm
from .models import Profile
from .permissions import is_manager


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    prof, _ = Profile.objects.get_or_create(user=user)
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            actions.do_update_profile(user, **form.cleaned_data)
            messages.success(request, "Your profile is saved.")
            return redirect("accounts:profile")
    else:
        form = ProfileForm(initial={
            "first_name": user.first_name, "last_name": user.last_name, "affiliation": prof.affiliation,
            "country": prof.country, "orcid": prof.orcid,
        })
    return render(request, "accounts/profile.html", {"form": form, "tokens": user.api_tokens.all(), "token_form": TokenForm()})


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, key = actions.do_create_token(user, form.cleaned_data["name"], request)
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
        else:
            return render(request, "accounts/token_created.html", {"token": token, "key": key})
    return redirect("accounts:profile")


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    token = get_object_or_404(user.api_tokens, pk=token_id)
    actions.do_revoke_token(user, token, request)
    messages.success(request, f"The token {token.name} is revoked.")
    return redirect("accounts:profile")


@login_required
def pending(request: HttpRequest) -> HttpResponse:
    """Accounts waiting for a manager (confirmation/activation workflows)."""
    if not is_manager(request.user):
        raise PermissionDenied
    waiting = User.objects.filter(is_active=False).select_related("profile").order_by("date_joined")
    return render(request, "accounts/pending.html", {"waiting": waiting, "workflow": settings.ACCOUNT_APPROVAL})


@login_required
@require_POST
def approve(request: HttpRequest, user_id: int, step: str) -> HttpResponse:
    manager = request.user
    assert isinstance(manager, User)
    account = get_object_or_404(User, pk=user_id)
    if step == "confirm":
        actions.do_confirm_user(manager, account)
        messages.success(request, f"{account.username} is confirmed; an administrator will activate the account.")
    else:
        actions.do_activate_user(manager, account)
        messages.success(request, f"{account.username} is active and has been told so.")
    return redirect("accounts:pending")
