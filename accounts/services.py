"""Writes for accounts: tenants, memberships, invitations and API keys."""

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from billing.services import ledger_accounts_ensure
from infer.errors import ApplicationError

from . import keys
from .models import Account, APIKey, Invitation, Membership

INVITATION_TTL = timedelta(days=7)


@transaction.atomic
def account_create(*, name: str, owner, is_buyer: bool = True, is_operator: bool = False) -> Account:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("An account needs a name", code="invalid_name")
    if not (is_buyer or is_operator):
        raise ApplicationError("An account acts as a buyer, an operator, or both", code="invalid_role")
    account = Account.objects.create(name=name[:100], is_buyer=is_buyer, is_operator=is_operator)
    Membership.objects.create(account=account, user=owner, role=Membership.Role.OWNER)
    ledger_accounts_ensure(account=account)
    return account


@transaction.atomic
def account_roles_update(*, account: Account, is_buyer: bool, is_operator: bool) -> Account:
    if not (is_buyer or is_operator):
        raise ApplicationError("An account acts as a buyer, an operator, or both", code="invalid_role")
    account.is_buyer, account.is_operator = is_buyer, is_operator
    account.save(update_fields=["is_buyer", "is_operator"])
    ledger_accounts_ensure(account=account)
    return account


def api_key_create(
    *, account: Account, name: str, created_by=None, spend_limit_nanos: int | None = None, spend_limit_period: str = ""
) -> tuple[APIKey, str]:
    """Create a key; returns it with the full secret, which is shown once and never stored."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Give the key a name so you can recognise it later", code="invalid_name")
    if spend_limit_nanos is not None:
        if isinstance(spend_limit_nanos, bool) or not isinstance(spend_limit_nanos, int) or spend_limit_nanos <= 0:
            raise ApplicationError("A spend limit must be a positive amount", code="invalid_spend_limit")
        if spend_limit_period not in APIKey.Period.values:
            raise ApplicationError("Choose a daily, weekly or monthly reset for the limit", code="invalid_period")
    else:
        spend_limit_period = ""
    full, public_id, secret_hash = keys.generate()
    key = APIKey.objects.create(
        account=account,
        public_id=public_id,
        secret_hash=secret_hash,
        name=name[:100],
        created_by=created_by,
        spend_limit_nanos=spend_limit_nanos,
        spend_limit_period=spend_limit_period,
    )
    return key, full


def api_key_revoke(*, api_key: APIKey) -> APIKey:
    """Revoke a key; it fails authentication from the next request on (nothing caches it)."""
    if api_key.revoked_at is None:
        APIKey.objects.filter(id=api_key.id, revoked_at__isnull=True).update(revoked_at=timezone.now())
        api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_touch(*, api_key: APIKey, now=None) -> None:
    """Record use at most once a minute per key, so busy keys do not write on every request."""
    now = now or timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(seconds=60):
        APIKey.objects.filter(id=api_key.id).update(last_used_at=now)
        api_key.last_used_at = now


@transaction.atomic
def invitation_create(*, account: Account, email: str, role: str, invited_by) -> Invitation:
    email = (email or "").strip().lower()
    if not email or "@" not in email:
        raise ApplicationError("Enter the email address of the person to invite", code="invalid_email")
    if role not in Membership.Role.values or role == Membership.Role.OWNER:
        raise ApplicationError("Invite as an admin or a member", code="invalid_role")
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        raise ApplicationError(f"{email} is already a member of {account.name}", code="already_member")
    if Invitation.objects.filter(
        account=account, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).exists():
        raise ApplicationError(f"{email} already has an open invitation", code="already_invited")
    invitation = Invitation.objects.create(
        account=account,
        email=email,
        role=role,
        token=secrets.token_urlsafe(32),
        invited_by=invited_by,
        expires_at=timezone.now() + INVITATION_TTL,
    )
    from .emails import send_invitation

    transaction.on_commit(lambda: send_invitation(invitation))
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    invitation = Invitation.objects.select_for_update().get(id=invitation.id)
    if not invitation.is_open:
        raise ApplicationError("This invitation has expired or was already used", code="invitation_closed")
    if user.email.lower() != invitation.email:
        raise ApplicationError("This invitation was sent to another email address", code="invitation_email")
    membership, _ = Membership.objects.get_or_create(
        account=invitation.account, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return membership


def invitations_accept_for_email(*, user, email: str) -> list[Membership]:
    """On a verified email, join every Account that invited it."""
    accepted = []
    for invitation in Invitation.objects.filter(email=email.lower(), accepted_at__isnull=True, revoked_at__isnull=True):
        if invitation.is_open:
            accepted.append(invitation_accept(invitation=invitation, user=user))
    return accepted


def invitation_revoke(*, invitation: Invitation) -> None:
    Invitation.objects.filter(id=invitation.id, accepted_at__isnull=True).update(revoked_at=timezone.now())


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str, acting) -> Membership:
    if role not in Membership.Role.values:
        raise ApplicationError("Unknown role", code="invalid_role")
    membership = Membership.objects.select_for_update().get(id=membership.id)
    if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER:
        owners = Membership.objects.filter(account=membership.account, role=Membership.Role.OWNER).count()
        if owners <= 1:
            raise ApplicationError("An account needs at least one owner", code="last_owner")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    if membership.role == Membership.Role.OWNER:
        owners = Membership.objects.select_for_update().filter(account=membership.account, role=Membership.Role.OWNER)
        if owners.count() <= 1:
            raise ApplicationError("An account needs at least one owner", code="last_owner")
    membership.delete()
