"""Writes for payouts: destinations, requests with their eligibility rules, approval, and each step's ledger posting.

Every step is a conditional UPDATE from the status it expects (so two workers or two staff clicks
cannot both act) and posts to the ledger under `payout:<id>:<step>` in the same database
transaction, so a crash between steps resumes where it stopped without moving money twice.
"""

import hashlib
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Membership
from billing import services as ledger
from billing.models import Hold, LedgerAccount, Transaction
from billing.money import NANOS_PER_CENT, format_usd
from billing.selectors import ledger_account_balance, operator_ledger_account
from infer.errors import ApplicationError
from kyc.selectors import kyc_verified, open_violations_exist

from .addresses import EVM_NETWORKS, address_normalize
from .confirmation import totp_confirm
from .models import Payout, PayoutDestination

Status = Payout.Status

STRIPE_ACCOUNT_RE = re.compile(r"^acct_[A-Za-z0-9]{6,60}$")
BANK_NUMBER_RE = re.compile(r"^[A-Z0-9]{6,34}$")
BANK_CODE_RE = re.compile(r"^[A-Z0-9]{6,11}$")


class PayoutRefused(ApplicationError):
    """A payout request that breaks an eligibility rule; nothing was written."""


def _require_operator(account) -> None:
    if not account.is_operator:
        raise ApplicationError("Only operator accounts have earnings to withdraw", code="not_operator", status_code=403)


def _require_manager(*, account, user) -> None:
    if (
        user is None
        or not Membership.objects.filter(
            account=account, user=user, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN]
        ).exists()
    ):
        raise ApplicationError(
            "Only the account's owners and admins can manage payouts", code="not_allowed", status_code=403
        )


# --- Destinations ------------------------------------------------------------------------------------


def _destination_details(*, kind, network, address, stripe_account_id, bank_holder_name, bank_iban, bank_bic):
    """The validated fields of a destination of `kind` (the others blank), or a clear refusal."""
    blank = {
        "network": "",
        "address": "",
        "stripe_account_id": "",
        "bank_holder_name": "",
        "bank_iban": "",
        "bank_bic": "",
    }
    if kind == PayoutDestination.Kind.USDC_WALLET:
        if network not in PayoutDestination.Network.values:
            raise ApplicationError("Choose the wallet's network: Ethereum, Base or Solana", code="invalid_network")
        return {**blank, "network": network, "address": address_normalize(network=network, address=address)}
    if kind == PayoutDestination.Kind.STRIPE_CONNECT:
        stripe_account_id = (stripe_account_id or "").strip()
        if not STRIPE_ACCOUNT_RE.match(stripe_account_id):
            raise ApplicationError(
                "Enter the Stripe Connect account id (acct_...) from your Stripe onboarding", code="invalid_stripe"
            )
        return {**blank, "stripe_account_id": stripe_account_id}
    if kind == PayoutDestination.Kind.MANUAL_BANK:
        holder = (bank_holder_name or "").strip()
        number = re.sub(r"\s+", "", bank_iban or "").upper()
        code = re.sub(r"\s+", "", bank_bic or "").upper()
        if not holder:
            raise ApplicationError("Enter the account holder's name", code="invalid_bank")
        if not BANK_NUMBER_RE.match(number):
            raise ApplicationError("Enter the IBAN or account number (6 to 34 letters and digits)", code="invalid_bank")
        if not BANK_CODE_RE.match(code):
            raise ApplicationError("Enter the BIC/SWIFT or routing number (6 to 11 characters)", code="invalid_bank")
        return {**blank, "bank_holder_name": holder[:200], "bank_iban": number, "bank_bic": code}
    raise ApplicationError("Choose a USDC wallet or a bank account", code="invalid_kind")


@transaction.atomic
def destination_create(
    *,
    account,
    user,
    kind: str,
    label: str = "",
    network: str = "",
    address: str = "",
    stripe_account_id: str = "",
    bank_holder_name: str = "",
    bank_iban: str = "",
    bank_bic: str = "",
    now=None,
) -> PayoutDestination:
    """Add a destination; it can receive payouts once its 24-hour lock has passed."""
    _require_operator(account)
    _require_manager(account=account, user=user)
    details = _destination_details(
        kind=kind,
        network=network,
        address=address,
        stripe_account_id=stripe_account_id,
        bank_holder_name=bank_holder_name,
        bank_iban=bank_iban,
        bank_bic=bank_bic,
    )
    now = now or timezone.now()
    destination = PayoutDestination.objects.create(
        account=account,
        kind=kind,
        label=(label or "").strip()[:100],
        created_by=user,
        created_at=now,
        changed_at=now,
        **details,
    )
    from . import tasks

    transaction.on_commit(lambda: tasks.destination_email.delay(destination.id, "added"))
    return destination


@transaction.atomic
def destination_change(
    *,
    destination: PayoutDestination,
    user,
    label: str | None = None,
    network: str = "",
    address: str = "",
    stripe_account_id: str = "",
    bank_holder_name: str = "",
    bank_iban: str = "",
    bank_bic: str = "",
    now=None,
) -> PayoutDestination:
    """Change where a destination pays to; the 24-hour lock starts again (a label alone does not)."""
    _require_manager(account=destination.account, user=user)
    destination = PayoutDestination.objects.select_for_update().get(id=destination.id)
    if destination.removed_at is not None:
        raise ApplicationError("This destination was removed", code="destination_removed")
    details = _destination_details(
        kind=destination.kind,
        network=network,
        address=address,
        stripe_account_id=stripe_account_id,
        bank_holder_name=bank_holder_name,
        bank_iban=bank_iban,
        bank_bic=bank_bic,
    )
    fields = []
    if any(getattr(destination, name) != value for name, value in details.items()):
        for name, value in details.items():
            setattr(destination, name, value)
        destination.changed_at = now or timezone.now()
        fields += [*details, "changed_at"]
    if label is not None:
        destination.label = label.strip()[:100]
        fields.append("label")
    if fields:
        destination.save(update_fields=fields)
    if "changed_at" in fields:
        from . import tasks

        transaction.on_commit(lambda: tasks.destination_email.delay(destination.id, "changed"))
    return destination


@transaction.atomic
def destination_remove(*, destination: PayoutDestination, user) -> PayoutDestination:
    _require_manager(account=destination.account, user=user)
    PayoutDestination.objects.filter(id=destination.id, removed_at__isnull=True).update(removed_at=timezone.now())
    destination.refresh_from_db(fields=["removed_at"])
    return destination


# --- Requests ----------------------------------------------------------------------------------------


def payout_fingerprint(*, destination: PayoutDestination, amount_nanos: int) -> str:
    """What a request asks for; the same Idempotency-Key with another fingerprint is a 409.

    The TOTP code is left out on purpose: a client retrying after a timeout may have to ask for a
    new code, and that is still the same request.
    """
    return hashlib.sha256(f"{destination.code}|{amount_nanos}".encode()).hexdigest()


def _idempotent_replay(*, account, idempotency_key: str, fingerprint: str) -> Payout | None:
    existing = Payout.objects.filter(account=account, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise ApplicationError(
            "This Idempotency-Key was already used for a different payout request",
            code="idempotency_conflict",
            status_code=409,
        )
    return existing


def payout_withdrawable(*, account) -> int:
    """Earnings minus the holds of pending payouts (exact: includes deltas not yet rolled up)."""
    earnings = operator_ledger_account(account=account)
    if earnings is None:
        return 0
    return ledger_account_balance(earnings) - earnings.held_nanos


def payout_eligibility_check(*, account, destination: PayoutDestination, amount_nanos: int, now=None) -> None:
    """Every rule of a payout request except the MFA code; raises PayoutRefused with a clear message."""
    now = now or timezone.now()
    _require_operator(account)
    if isinstance(amount_nanos, bool) or not isinstance(amount_nanos, int) or amount_nanos <= 0:
        raise PayoutRefused("Enter a positive amount", code="invalid_amount")
    if amount_nanos % NANOS_PER_CENT:
        raise PayoutRefused("Payouts are in whole cents", code="invalid_amount")
    if amount_nanos < settings.MIN_PAYOUT_NANOS:
        raise PayoutRefused(f"The minimum payout is {format_usd(settings.MIN_PAYOUT_NANOS)}", code="below_minimum")
    if destination.account_id != account.id or destination.removed_at is not None:
        raise PayoutRefused("Choose one of your payout destinations", code="invalid_destination")
    if destination.is_locked(now):
        raise PayoutRefused(
            "This destination was added or changed less than 24 hours ago; it can receive payouts from "
            f"{destination.unlocks_at():%Y-%m-%d %H:%M} UTC",
            code="destination_locked",
        )
    if open_violations_exist(account=account):
        raise PayoutRefused(
            "Payouts are blocked while a violation against this account is open; contact support",
            code="open_violation",
            status_code=403,
        )
    if amount_nanos > settings.PAYOUT_KYC_THRESHOLD_NANOS and not kyc_verified(account=account):
        raise PayoutRefused(
            f"Payouts over {format_usd(settings.PAYOUT_KYC_THRESHOLD_NANOS)} need a verified identity (KYC): "
            "complete verification or request a smaller amount",
            code="kyc_required",
            status_code=403,
        )
    withdrawable = payout_withdrawable(account=account)
    if amount_nanos > withdrawable:
        raise PayoutRefused(
            f"You can withdraw at most {format_usd(max(withdrawable, 0))} now", code="insufficient_earnings"
        )


def payout_request(
    *,
    account,
    user,
    destination: PayoutDestination,
    amount_nanos: int,
    totp_code: str,
    idempotency_key: str,
    now=None,
) -> tuple[Payout, bool]:
    """Request a payout; returns (payout, replayed). The same key and request returns the first payout.

    Order matters: the idempotency replay comes first (a retry must not need a new code), then every
    eligibility rule, then the TOTP code (so a refusal does not burn it), then the hold and the row.
    """
    idempotency_key = (idempotency_key or "").strip()
    if not idempotency_key or len(idempotency_key) > 200:
        raise ApplicationError("Send an Idempotency-Key header of 1 to 200 characters", code="idempotency_key")
    fingerprint = payout_fingerprint(destination=destination, amount_nanos=amount_nanos)
    existing = _idempotent_replay(account=account, idempotency_key=idempotency_key, fingerprint=fingerprint)
    if existing is not None:
        return existing, True
    _require_manager(account=account, user=user)
    payout_eligibility_check(account=account, destination=destination, amount_nanos=amount_nanos, now=now)
    totp_confirm(user=user, code=totp_code)

    earnings = operator_ledger_account(account=account)
    if earnings.balance_nanos - earnings.held_nanos < amount_nanos:
        # hold_place admits on the cached balance, which lags for deferred accounts such as
        # earnings: fold pending deltas in first (outside our transaction; it is idempotent).
        ledger.ledger_rollup()
    try:
        payout = _payout_create(
            account=account,
            user=user,
            destination=destination,
            amount_nanos=amount_nanos,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            earnings_id=earnings.id,
        )
    except IntegrityError:
        # A concurrent request with the same key won the unique constraint: answer as it did.
        existing = _idempotent_replay(account=account, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if existing is None:
            raise
        return existing, True
    return payout, False


@transaction.atomic
def _payout_create(*, account, user, destination, amount_nanos, idempotency_key, fingerprint, earnings_id) -> Payout:
    # The lock closes the race of two requests both passing the withdrawable check on the same
    # earnings; usage settlements do not wait on it (they append balance deltas).
    earnings = LedgerAccount.objects.select_for_update().get(id=earnings_id)
    withdrawable = ledger_account_balance(earnings) - earnings.held_nanos
    if amount_nanos > withdrawable:
        raise PayoutRefused(
            f"You can withdraw at most {format_usd(max(withdrawable, 0))} now", code="insufficient_earnings"
        )
    auto = 0 < amount_nanos <= settings.PAYOUT_AUTO_APPROVE_MAX_NANOS and kyc_verified(account=account)
    now = timezone.now()
    payout = Payout.objects.create(
        account=account,
        destination=destination,
        amount_nanos=amount_nanos,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        requested_by=user,
        network=destination.network,
        to_address=destination.address,
        status=Status.APPROVED if auto else Status.REQUESTED,
        auto_approved=auto,
        approved_at=now if auto else None,
        created_at=now,
        updated_at=now,
    )
    try:
        hold = ledger.hold_place(
            ledger_account_id=earnings.id,
            amount_nanos=amount_nanos,
            key=f"payout:{payout.id}",
            kind=Hold.Kind.PAYOUT,
            ttl_seconds=settings.PAYOUT_HOLD_TTL_SECONDS,
        )
    except ledger.AdmissionRefused:
        raise PayoutRefused(
            "Your earnings are still being totalled; try again in a minute", code="insufficient_earnings"
        )
    payout.hold = hold
    payout.save(update_fields=["hold"])
    _after_status_change(payout)
    return payout


# --- Status changes ------------------------------------------------------------------------------------


def _after_status_change(payout: Payout) -> None:
    """After commit: email the operator, and queue the next automatic step."""
    from . import tasks

    status = payout.status
    payout_id = payout.id
    transaction.on_commit(lambda: tasks.payout_status_email.delay(payout_id, status))
    if status == Status.APPROVED:
        transaction.on_commit(lambda: tasks.payout_process.delay(payout_id))


def _transition(payout_id: int, *, from_statuses, to_status: str, **fields) -> Payout | None:
    """Move a payout between statuses if (and only if) it is still in one of `from_statuses`."""
    now = timezone.now()
    updated = Payout.objects.filter(id=payout_id, status__in=list(from_statuses)).update(
        status=to_status, updated_at=now, **fields
    )
    if not updated:
        return None
    return Payout.objects.select_related("account", "destination").get(id=payout_id)


def _invalid_step(payout_id: int, action: str) -> ApplicationError:
    status = Payout.objects.filter(id=payout_id).values_list("status", flat=True).first()
    return ApplicationError(f"Cannot {action} a payout that is {status}", code="invalid_status", status_code=409)


@transaction.atomic
def payout_approve(*, payout: Payout, staff_user) -> Payout:
    approved = _transition(
        payout.id,
        from_statuses=[Status.REQUESTED],
        to_status=Status.APPROVED,
        approved_by=staff_user,
        approved_at=timezone.now(),
    )
    if approved is None:
        raise _invalid_step(payout.id, "approve")
    _after_status_change(approved)
    return approved


def _release_hold(payout: Payout) -> None:
    if payout.hold_id is not None:
        ledger.transactions_post([], hold_releases=[payout.hold_id])


@transaction.atomic
def payout_reject(*, payout: Payout, staff_user, reason: str) -> Payout:
    """Refuse a payout before it is sent: the hold is released, the operator sees the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Give the operator a reason for the rejection", code="reason_required")
    current = Payout.objects.select_for_update().get(id=payout.id)
    if current.signed_tx:
        # A signed transfer may already be on its way; only what the chain says may end it.
        raise ApplicationError(
            "This payout's transfer was already signed; wait for it to confirm or fail",
            code="invalid_status",
            status_code=409,
        )
    rejected = _transition(
        payout.id,
        from_statuses=[Status.REQUESTED, Status.APPROVED],
        to_status=Status.REJECTED,
        reason=reason[:500],
        approved_by=staff_user,
        rejected_at=timezone.now(),
    )
    if rejected is None:
        raise _invalid_step(payout.id, "reject")
    _release_hold(rejected)
    _after_status_change(rejected)
    return rejected


def _post_step(payout: Payout, step: str, legs, release_hold: bool = False) -> None:
    ledger.transaction_post(
        idempotency_key=f"payout:{payout.id}:{step}",
        kind=Transaction.Kind.PAYOUT,
        legs=legs,
        memo=f"Payout {payout.code} {step}",
        reference=f"payout:{payout.code}",
        release_hold_id=payout.hold_id if release_hold else None,
    )


def _earnings_id(payout: Payout) -> int:
    return operator_ledger_account(account=payout.account).id


@transaction.atomic
def payout_mark_sent(*, payout: Payout, **fields) -> Payout:
    """The money left (a broadcast transfer, a Stripe transfer): earnings → clearing:payouts, hold released."""
    sent = _transition(
        payout.id, from_statuses=[Status.APPROVED], to_status=Status.SENT, sent_at=timezone.now(), **fields
    )
    if sent is None:
        current = Payout.objects.get(id=payout.id)
        if current.status in (Status.SENT, Status.PAID):
            return current  # a resumed worker: this step is done
        raise _invalid_step(payout.id, "send")
    clearing = ledger.system_ledger_account_id("clearing:payouts")
    _post_step(sent, "sent", [(_earnings_id(sent), -sent.amount_nanos), (clearing, sent.amount_nanos)], True)
    _after_status_change(sent)
    return sent


@transaction.atomic
def payout_mark_paid(*, payout: Payout, staff_user=None, reference: str = "", **fields) -> Payout:
    """Confirmed at the destination: clearing:payouts → payouts:sent.

    Finance may mark an approved bank payout paid by hand (with a reference): it passes through
    `sent` in the same database transaction, so the ledger shows both steps.
    """
    current = Payout.objects.select_for_update().get(id=payout.id)
    if current.status == Status.PAID:
        return current
    if current.status == Status.APPROVED and staff_user is not None:
        reference = (reference or "").strip()
        if not reference:
            raise ApplicationError("Enter the bank transfer's reference", code="reference_required")
        if current.network in EVM_NETWORKS:
            raise ApplicationError(
                "USDC payouts on Ethereum and Base are sent and confirmed by the platform", code="invalid_status"
            )
        payout_mark_sent(payout=current, external_reference=reference[:200])
    elif reference:
        fields["external_reference"] = reference[:200]
    paid = _transition(payout.id, from_statuses=[Status.SENT], to_status=Status.PAID, paid_at=timezone.now(), **fields)
    if paid is None:
        raise _invalid_step(payout.id, "mark paid")
    clearing = ledger.system_ledger_account_id("clearing:payouts")
    sent_account = ledger.system_ledger_account_id("payouts:sent")
    _post_step(paid, "paid", [(clearing, -paid.amount_nanos), (sent_account, paid.amount_nanos)])
    _after_status_change(paid)
    return paid


@transaction.atomic
def payout_fail(*, payout: Payout, reason: str) -> Payout:
    """It did not arrive: before `sent` the hold is released; after, the earnings come back."""
    reason = (reason or "The transfer failed").strip()[:500]
    failed = _transition(
        payout.id,
        from_statuses=[Status.REQUESTED, Status.APPROVED, Status.SENT],
        to_status=Status.FAILED,
        reason=reason,
        failed_at=timezone.now(),
    )
    if failed is None:
        current = Payout.objects.get(id=payout.id)
        if current.status == Status.FAILED:
            return current
        raise _invalid_step(payout.id, "fail")
    if failed.sent_at is not None:
        clearing = ledger.system_ledger_account_id("clearing:payouts")
        _post_step(failed, "reversed", [(clearing, -failed.amount_nanos), (_earnings_id(failed), failed.amount_nanos)])
    else:
        _release_hold(failed)
    _after_status_change(failed)
    return failed
