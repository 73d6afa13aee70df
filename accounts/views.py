"""Portal views for accounts: dashboard, API keys, team and invitations, settings, the account switcher."""

import uuid
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from billing.money import format_usd, nanos_to_usd, usd_to_nanos
from billing.selectors import balance_summary
from infer.errors import ApplicationError

from . import selectors, services
from .decorators import account_required, manager_required
from .forms import AccountSettingsForm, APIKeyCreateForm, InvitationForm, RoleForm, SpendLimitFields, TeamCreateForm
from .middleware import SESSION_KEY
from .models import APIKey, Invitation, Membership
from .scoping import scoped_get_or_404


def _render_form(request, template, context, form):
    """A form with errors answers 400, so scripts and tests see the refusal without parsing HTML."""
    return render(request, template, context, status=400 if form.is_bound and form.errors else 200)


@account_required
def dashboard(request):
    account = request.membership.account
    context = {"balance": balance_summary(account=account), "section": "dashboard"}
    if account.is_buyer:
        from usage.views import dashboard_usage  # usage builds on accounts, not the other way round

        context |= dashboard_usage(account=account)
    return render(request, "portal/dashboard.html", context)


# --- The account switcher ------------------------------------------------------------------------


def _switch_to(request, code):
    membership = Membership.objects.filter(user=request.user, account__code=code).select_related("account").first()
    if membership is None:
        raise Http404
    request.session[SESSION_KEY] = str(membership.account.code)
    messages.success(request, f"Now acting for {membership.account.name}.")
    # Stay on the same page when it is about no one object (keys, team, usage, ...): a page about an
    # object of the old team (its URL has arguments) would be a 404 in the new one.
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        try:
            match = resolve(target)
        except Resolver404:
            match = None
        if match is not None and not match.args and not match.kwargs:
            return redirect(target)
    return redirect("dashboard")


@require_POST
@login_required
def account_switch(request, code):
    return _switch_to(request, code)


@require_POST
@login_required
def account_switch_form(request):
    code = request.POST.get("code", "")
    try:
        code = uuid.UUID(code)
    except ValueError:
        raise Http404 from None
    return _switch_to(request, code)


@login_required
def team_create(request):
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.account_create(name=form.cleaned_data["name"], owner=request.user, is_buyer=True)
        except ApplicationError as exc:
            form.add_error("name", exc.message)
        else:
            request.session[SESSION_KEY] = str(account.code)
            messages.success(request, f"Created {account.name}. You are its owner.")
            return redirect("dashboard")
    return _render_form(request, "portal/team_create.html", {"form": form}, form)


# --- API keys ----------------------------------------------------------------------------------


@account_required
@never_cache
def api_keys(request):
    account = request.membership.account
    form = APIKeyCreateForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied("Only owners and admins can create API keys.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                key, full_key = services.api_key_create(
                    account=account,
                    name=data["name"],
                    created_by=request.user,
                    spend_limit_nanos=data["spend_limit"],
                    spend_limit_period=data["spend_limit_period"] if data["spend_limit"] else "",
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                # Rendered, never redirected: the full key must not pass through the session (a
                # database row) or a URL. no-store keeps it out of the browser's cache too.
                return render(request, "portal/key_created.html", {"key": key, "full_key": full_key, "section": "keys"})
    context = {"keys": selectors.api_keys_for_account(account=account), "form": form, "section": "keys"}
    return _render_form(request, "portal/keys.html", context, form)


@manager_required
def api_key_revoke(request, public_id):
    key = scoped_get_or_404(APIKey.objects.all(), request, public_id=public_id)
    if request.method == "POST":
        services.api_key_revoke(api_key=key)
        messages.success(request, f"Revoked “{key.name}”. Requests with it are refused from now on.")
        return redirect("api-keys")
    return render(request, "portal/key_revoke.html", {"key": key, "section": "keys"})


@manager_required
def api_key_limit(request, public_id):
    key = scoped_get_or_404(APIKey.objects.all(), request, public_id=public_id)
    initial = {"spend_limit_period": key.spend_limit_period or APIKey.Period.MONTHLY}
    if key.spend_limit_nanos:
        initial["spend_limit"] = format(nanos_to_usd(key.spend_limit_nanos).quantize(Decimal("0.01")), "f")
        if usd_to_nanos(initial["spend_limit"]) != key.spend_limit_nanos:  # finer than cents: show it all
            initial["spend_limit"] = format(nanos_to_usd(key.spend_limit_nanos), "f")
    form = SpendLimitFields(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        nanos = form.cleaned_data["spend_limit"]
        try:
            services.api_key_spend_limit_set(
                api_key=key,
                spend_limit_nanos=nanos,
                spend_limit_period=form.cleaned_data["spend_limit_period"] if nanos else "",
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            if nanos:
                per = {"daily": "day", "weekly": "week", "monthly": "month"}[form.cleaned_data["spend_limit_period"]]
                messages.success(request, f"“{key.name}” may now spend {format_usd(nanos)} per {per}.")
            else:
                messages.success(request, f"Removed the spend limit of “{key.name}”.")
            return redirect("api-keys")
    return _render_form(request, "portal/key_limit.html", {"key": key, "form": form, "section": "keys"}, form)


# --- Team --------------------------------------------------------------------------------------


@account_required
def team(request):
    account = request.membership.account
    form = InvitationForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied("Only owners and admins can invite people.")
        if form.is_valid():
            try:
                invitation = services.invitation_create(
                    account=account,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    invited_by=request.user,
                )
            except ApplicationError as exc:
                form.add_error("email", exc.message)
            else:
                messages.success(request, f"Invited {invitation.email} as {invitation.role}. We emailed them a link.")
                return redirect("team")
    context = {
        "members": selectors.members_of_account(account=account),
        "invitations": selectors.invitations_open_for_account(account=account),
        "form": form,
        "roles": Membership.Role.choices,
        "section": "team",
    }
    return _render_form(request, "portal/team.html", context, form)


@require_POST
@manager_required
def member_role(request, membership_id):
    membership = scoped_get_or_404(Membership.objects.select_related("user"), request, id=membership_id)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ApplicationError("Choose owner, admin or member.", code="invalid_role")
        services.membership_role_change(
            membership=membership, role=form.cleaned_data["role"], acting=request.membership
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("team")
    messages.success(request, f"{membership.user.email} is now {form.cleaned_data['role']}.")
    if membership.id == request.membership.id and form.cleaned_data["role"] == Membership.Role.MEMBER:
        messages.info(request, "You are a member now: the team and its keys are read-only for you.")
    return redirect("team")


@account_required
def member_remove(request, membership_id):
    """Remove a teammate (owners and admins), or leave the team (anyone, for their own membership)."""
    membership = scoped_get_or_404(Membership.objects.select_related("user", "account"), request, id=membership_id)
    leaving = membership.id == request.membership.id
    if not leaving and not request.membership.can_manage:
        raise PermissionDenied("Only owners and admins can remove people from the team.")
    if request.method == "POST":
        try:
            services.membership_remove(membership=membership, acting=request.membership)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("team")
        if leaving:
            request.session.pop(SESSION_KEY, None)
            messages.success(request, f"You left {membership.account.name}.")
            return redirect("dashboard")
        messages.success(request, f"Removed {membership.user.email} from {membership.account.name}.")
        return redirect("team")
    return render(
        request, "portal/member_remove.html", {"membership": membership, "leaving": leaving, "section": "team"}
    )


@require_POST
@manager_required
def invitation_revoke(request, invitation_id):
    invitation = scoped_get_or_404(Invitation.objects.all(), request, id=invitation_id)
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"Revoked the invitation to {invitation.email}.")
    return redirect("team")


def invitation_accept(request, token):
    """The link in an invitation email: anyone holding it sees what it is; the invitee accepts it."""
    invitation = get_object_or_404(Invitation.objects.select_related("account", "invited_by"), token=token)
    if not request.user.is_authenticated:
        return render(request, "portal/invitation.html", {"invitation": invitation})
    if request.method == "POST":
        try:
            membership = services.invitation_accept(invitation=invitation, user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("invitation-accept", token=token)
        request.session[SESSION_KEY] = str(membership.account.code)
        messages.success(request, f"Welcome to {membership.account.name}: you joined as {membership.role}.")
        return redirect("dashboard")
    return render(
        request,
        "portal/invitation.html",
        {"invitation": invitation, "email_matches": request.user.email.lower() == invitation.email},
    )


# --- Settings ----------------------------------------------------------------------------------


@account_required
def account_settings(request):
    account = request.membership.account
    initial = {"name": account.name, "is_buyer": account.is_buyer, "is_operator": account.is_operator}
    form = AccountSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied("Only owners and admins can change the team's settings.")
        if form.is_valid():
            try:
                services.account_update(account=account, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Saved the team's settings.")
                return redirect("account-settings")
    context = {"form": form, "section": "settings"}
    return _render_form(request, "portal/settings.html", context, form)
