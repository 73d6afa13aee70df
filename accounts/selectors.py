"""Reads for accounts: memberships, API keys, invitations."""

from .models import APIKey, Membership


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
    return APIKey.objects.filter(account=account).order_by("-created_at")


def members_of_account(*, account):
    return Membership.objects.filter(account=account).select_related("user").order_by("created_at")
