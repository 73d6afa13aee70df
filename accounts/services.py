"""Writes for accounts: tenants, memberships, invitations and API keys."""

import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
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
def account_update(*, account: Account, name: str, is_buyer: bool, is_operator: bool) -> Account:
    """Rename an Account and set what it acts as (the roles go through account_roles_update)."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError("An account needs a name", code="invalid_name")
    if len(name) > 100:
        raise ApplicationError("Keep the name to 100 characters or fewer", code="invalid_name")
    account.name = name
    account.save(update_fields=["name"])
    return account_roles_update(account=account, is_buyer=is_buyer, is_operator=is_operator)


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
    if len(name) > 100:
        raise ApplicationError("Keep the key's name to 100 characters or fewer", code="invalid_name")
    spend_limit_nanos, spend_limit_period = _spend_limit_validate(spend_limit_nanos, spend_limit_period)
    full, public_id, secret_hash = keys.generate()
    key = APIKey.objects.create(
        account=account,
        public_id=public_id,
        secret_hash=secret_hash,
        name=name[:100],
        created_by=created_by,
        spend_limit_nanos=spend_limit_nanos,
        spend_limit_period=spend_limit_period,
        period_started_at=timezone.now() if spend_limit_nanos is not None else None,
    )
    return key, full


# The largest limit a person may set: far above any real budget, far below BigIntegerField's range.
MAX_SPEND_LIMIT_NANOS = 1_000_000_000 * 1_000_000_000  # $1,000,000,000


def _spend_limit_validate(nanos, period) -> tuple[int | None, str]:
    if nanos is None:
        return None, ""
    if isinstance(nanos, bool) or not isinstance(nanos, int) or nanos <= 0:
        raise ApplicationError("A spend limit must be a positive amount", code="invalid_spend_limit")
    if nanos > MAX_SPEND_LIMIT_NANOS:
        raise ApplicationError("A spend limit can be at most $1,000,000,000", code="invalid_spend_limit")
    if period not in APIKey.Period.values:
        raise ApplicationError("Choose a daily, weekly or monthly reset for the limit", code="invalid_period")
    return nanos, period


@transaction.atomic
def api_key_spend_limit_set(*, api_key: APIKey, spend_limit_nanos: int | None, spend_limit_period: str = "") -> APIKey:
    """Set, change or remove (None) a key's spend limit.

    Changing only the amount keeps what was spent this period; a new reset period, or a limit on a
    key that had none, starts a fresh period now.
    """
    spend_limit_nanos, spend_limit_period = _spend_limit_validate(spend_limit_nanos, spend_limit_period)
    # Locked: settlement adds to period_spent_nanos on this row at the same time.
    api_key = APIKey.objects.select_for_update().get(id=api_key.id)
    fields = ["spend_limit_nanos", "spend_limit_period"]
    if spend_limit_nanos is None:
        api_key.period_spent_nanos, api_key.period_started_at = 0, None
        fields += ["period_spent_nanos", "period_started_at"]
    elif api_key.spend_limit_nanos is None or api_key.spend_limit_period != spend_limit_period:
        api_key.period_spent_nanos, api_key.period_started_at = 0, timezone.now()
        fields += ["period_spent_nanos", "period_started_at"]
    api_key.spend_limit_nanos, api_key.spend_limit_period = spend_limit_nanos, spend_limit_period
    api_key.save(update_fields=fields)
    return api_key


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
    try:
        validate_email(email)
    except ValidationError:
        raise ApplicationError("Enter the email address of the person to invite", code="invalid_email") from None
    if role not in Membership.Role.values or role == Membership.Role.OWNER:
        raise ApplicationError("Invite as an admin or a member", code="invalid_role")
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        raise ApplicationError(f"{email} is already a member of {account.name}", code="already_member")
    pending = (
        Invitation.objects.select_for_update()
        .filter(account=account, email=email, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if pending is not None:
        if pending.is_open:
            raise ApplicationError(f"{email} already has an open invitation", code="already_invited")
        # An expired invitation still holds the one-open-invitation slot: close it, then invite anew.
        pending.revoked_at = timezone.now()
        pending.save(update_fields=["revoked_at"])
    invitation = Invitation.objects.create(
        account=account,
        email=email,
        role=role,
        token=secrets.token_urlsafe(32),
        invited_by=invited_by,
        expires_at=timezone.now() + INVITATION_TTL,
    )
    from .tasks import invitation_send

    # SMTP is slow and outside the database: send after commit, from a worker.
    transaction.on_commit(lambda: invitation_send.delay(invitation.id))
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
    Invitation.objects.filter(id=invitation.id, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def _forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, code="forbidden", status_code=403)


def _require_manager(acting: Membership | None, account: Account) -> None:
    if acting is None or acting.account_id != account.id or not acting.can_manage:
        raise _forbidden("Only owners and admins can manage the team")


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str, acting: Membership) -> Membership:
    """Owners and admins change roles; only an owner grants or takes away the owner role."""
    if role not in Membership.Role.values:
        raise ApplicationError("Choose owner, admin or member", code="invalid_role")
    _require_manager(acting, membership.account)
    # Lock the Account's owners first so two demotions at once cannot leave it with none.
    owners = list(
        Membership.objects.select_for_update()
        .filter(account=membership.account_id, role=Membership.Role.OWNER)
        .values_list("id", flat=True)
    )
    membership = Membership.objects.select_for_update().get(id=membership.id)
    touches_owner = Membership.Role.OWNER in (membership.role, role)
    if touches_owner and acting.role != Membership.Role.OWNER:
        raise _forbidden("Only an owner can grant or take away the owner role")
    if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER and len(owners) <= 1:
        raise ApplicationError("An account needs at least one owner: make someone else owner first", code="last_owner")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, acting: Membership) -> None:
    """Remove a member, or leave (acting is the membership itself); the last owner cannot go."""
    leaving = acting is not None and acting.id == membership.id
    if not leaving:
        _require_manager(acting, membership.account)
        if membership.role == Membership.Role.OWNER and acting.role != Membership.Role.OWNER:
            raise _forbidden("Only an owner can remove an owner")
    owners = list(
        Membership.objects.select_for_update()
        .filter(account=membership.account_id, role=Membership.Role.OWNER)
        .values_list("id", flat=True)
    )
    if membership.role == Membership.Role.OWNER and len(owners) <= 1:
        raise ApplicationError(
            "An account needs at least one owner: make someone else owner before leaving", code="last_owner"
        )
    Membership.objects.filter(id=membership.id).delete()
