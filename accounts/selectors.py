"""Reads for accounts: memberships, API keys, invitations."""

from django.db import models
from django.utils import timezone

from .models import APIKey, Invitation, Membership


def memberships_for_user(*, user):
    return list(Membership.objects.filter(user=user).select_related("account").order_by("account__name", "id"))


def membership_current(*, user, account_code=None):
    """The membership for the session's chosen Account, or the user's first one."""
    memberships = Membership.objects.filter(user=user).select_related("account").order_by("id")
    if account_code:
        chosen = memberships.filter(account__code=account_code).first()
        if chosen is not None:
            return chosen
    return memberships.first()


def api_keys_for_account(*, account):
    """Active keys first, newest first; revoked keys stay listed so their history makes sense."""
    return (
        APIKey.objects.filter(account=account)
        .select_related("created_by")
        .order_by(models.F("revoked_at").desc(nulls_first=True), "-created_at")
    )


def members_of_account(*, account):
    return Membership.objects.filter(account=account).select_related("user").order_by("created_at")


def invitations_open_for_account(*, account):
    return (
        Invitation.objects.filter(
            account=account, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )


def account_manager_emails(*, account) -> list[str]:
    """Who hears about an Account's money and standing: its active owners and admins, by email."""
    return list(
        Membership.objects.filter(
            account=account, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN], user__is_active=True
        )
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
