"""Writes for card deposits: starting a Stripe Checkout, and applying its verified webhook events.

Every money movement goes through `transaction_post` with a key derived from Stripe's ids:
`stripe:<payment intent>` (the deposit), `stripe:refund:<charge>:<cumulative cents refunded>`,
`stripe:dispute:<dispute>:withdrawn` and `stripe:dispute:<dispute>:won`. Each handler first takes the
payment intent's lock, then the card payment's row, so two deliveries of events about one payment apply
one after the other, and each compares Stripe's cumulative state with what was already posted, so
redelivered or reordered events never post twice. A refund or dispute that arrives before its payment's
credit posts nothing: its event is stored, and the credit applies it.
"""

import logging
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from infer.errors import ApplicationError

from . import stripe_gateway
from .models import CardDispute, CardPayment, Transaction
from .money import NANOS_PER_CENT, cents_to_nanos, format_usd
from .selectors import buyer_ledger_account
from .services import AdmissionRefused, ledger_accounts_ensure, system_ledger_account_id, transaction_post

log = logging.getLogger(__name__)

CARD_CLEARING = "clearing:card"


class BalanceDisputed(AdmissionRefused):
    """What the API answers (402) while `account_blocked_by_dispute` holds for the key's Account."""

    def __init__(self):
        super().__init__(
            "A card dispute took this account's balance below zero: API requests are refused until the "
            "dispute is settled or funds bring the balance back to zero.",
            code="balance_disputed",
        )


class DepositRefused(ApplicationError):
    def __init__(self, message, *, code="invalid_amount"):
        super().__init__(message, code=code, status_code=400)


def card_deposit_limits() -> tuple[int, int]:
    """(minimum, maximum) of one card deposit in nanos: ours, within what Stripe accepts for one payment."""
    ceiling = cents_to_nanos(stripe_gateway.STRIPE_MAX_PAYMENT_CENTS)
    maximum = min(settings.MAX_DEPOSIT_NANOS, ceiling) if settings.MAX_DEPOSIT_NANOS > 0 else ceiling
    return settings.MIN_DEPOSIT_NANOS, maximum


def card_amount_validate(amount_nanos: int) -> None:
    """Refuse, with a message a person can act on, an amount we cannot charge."""
    minimum, maximum = card_deposit_limits()
    if amount_nanos % NANOS_PER_CENT:
        raise DepositRefused("Enter an amount in whole cents, e.g. 25.00.")
    if amount_nanos < minimum:
        raise DepositRefused(f"The minimum deposit is {format_usd(minimum)}.", code="below_minimum")
    if amount_nanos > maximum:
        raise DepositRefused(f"The maximum for one card payment is {format_usd(maximum)}.", code="above_maximum")


@transaction.atomic
def card_payment_create(*, account: Account, amount_nanos: int, created_by=None) -> CardPayment:
    """Record a card deposit before asking Stripe for a session, so every session has its payment row."""
    card_amount_validate(amount_nanos)
    if not account.is_buyer:
        raise DepositRefused("This account does not buy inference, so it has no balance to fund.", code="not_buyer")
    if not account.is_active:
        raise DepositRefused("This account is suspended.", code="account_inactive")
    ledger_accounts_ensure(account=account)
    return CardPayment.objects.create(account=account, amount_nanos=amount_nanos, created_by=created_by)


def card_checkout_start(*, account: Account, amount_nanos: int, user=None, return_url: str) -> CardPayment:
    """Create the payment row, then the Stripe session (outside any database transaction), then save it.

    `return_url` is where Stripe sends the buyer back (our Add funds page, absolute).
    """
    if not stripe_gateway.card_payments_enabled():
        raise stripe_gateway.StripeUnavailable("Card payments are not configured on this installation.")
    payment = card_payment_create(account=account, amount_nanos=amount_nanos, created_by=user)
    separator = "&" if "?" in return_url else "?"
    try:
        session = stripe_gateway.checkout_session_create(
            amount_nanos=amount_nanos,
            payment_code=str(payment.code),
            account_code=str(account.code),
            customer_email=getattr(user, "email", None),
            success_url=f"{return_url}{separator}checkout=success&payment={payment.code}",
            cancel_url=f"{return_url}{separator}checkout=cancelled&payment={payment.code}",
        )
    except stripe_gateway.StripeUnavailable as exc:
        CardPayment.objects.filter(id=payment.id, status=CardPayment.Status.PENDING).update(
            status=CardPayment.Status.FAILED, error=exc.message[:500]
        )
        raise
    CardPayment.objects.filter(id=payment.id).update(checkout_session_id=session.id, checkout_url=session.url)
    if session.payment_intent_id:
        # Never overwrite what a (very fast) webhook already recorded.
        CardPayment.objects.filter(id=payment.id, payment_intent_id__isnull=True).update(
            payment_intent_id=session.payment_intent_id
        )
    payment.refresh_from_db()
    return payment


# --- Webhook events (called by billing/stripe_webhooks.py inside dj-stripe's transaction) ------------


def _id(value) -> str | None:
    """Stripe fields that reference an object hold its id, or the object itself when expanded."""
    if isinstance(value, dict):
        value = value.get("id")
    return value or None


def _payment_for_session(session: dict) -> CardPayment | None:
    match = Q(pk__in=[])
    if session.get("id"):  # never `checkout_session_id=None`: that would match every unsaved session
        match |= Q(checkout_session_id=session["id"])
    code = (session.get("metadata") or {}).get("card_payment") or session.get("client_reference_id")
    try:
        match |= Q(code=uuid.UUID(str(code)))
    except ValueError:
        pass
    # The row lock serializes every event about this payment (concurrent deliveries, refunds, disputes).
    return CardPayment.objects.select_for_update().filter(match).order_by("id").first()


def _payment_for_intent(payment_intent_id: str | None) -> CardPayment | None:
    if not payment_intent_id:
        return None
    return CardPayment.objects.select_for_update().filter(payment_intent_id=payment_intent_id).first()


def _intent_lock(payment_intent_id: str) -> None:
    """Serialize a refund that arrives before its payment's credit with that credit (Stripe does not
    promise order). Without it the refund could look for the payment before the credit commits, and
    the credit look for stored refunds before the refund commits: the refund would be lost."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"stripe:intent:{payment_intent_id}"])


def _refunds_apply_early(payment_intent_id: str) -> None:
    """Apply `charge.refunded` events stored before this payment was credited (they posted nothing then)."""
    from djstripe.models import Event

    for event in Event.objects.filter(type="charge.refunded", data__object__payment_intent=payment_intent_id):
        card_charge_refunded(charge=event.data["object"])


DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
)


def _disputes_apply_early(payment_intent_id: str) -> None:
    """Apply dispute events stored before this payment was credited (they posted nothing then), in the
    order Stripe created them, so the dispute ends in the state in-order delivery gives it."""
    from djstripe.models import Event

    events = Event.objects.filter(type__in=DISPUTE_EVENTS, data__object__payment_intent=payment_intent_id)
    for event in events.order_by("created", "djstripe_id"):
        card_dispute_update(dispute=event.data["object"])


def _post(*, payment: CardPayment, key: str, kind: str, buyer_nanos: int, memo: str, reference: str):
    """Move `buyer_nanos` between the buyer's balance and Stripe's clearing account (signed for the buyer)."""
    ledger = buyer_ledger_account(account=payment.account)
    return transaction_post(
        idempotency_key=key,
        kind=kind,
        legs=[(ledger.id, buyer_nanos), (system_ledger_account_id(CARD_CLEARING), -buyer_nanos)],
        memo=memo,
        reference=reference,
    )


@transaction.atomic
def card_checkout_completed(*, session: dict) -> CardPayment | None:
    """A Checkout session completed: credit it once if it is paid in USD; anything else credits nothing."""
    if session.get("object") != "checkout.session" or session.get("mode") != "payment":
        return None
    payment_intent_id = _id(session.get("payment_intent"))
    if payment_intent_id:
        # The intent's lock before the payment's row, in the order the refund and dispute handlers take
        # them: the other order deadlocks with one of them once the row carries its payment intent.
        _intent_lock(payment_intent_id)
    payment = _payment_for_session(session)
    if payment is None:
        log.warning("Checkout session %s is not one of our card payments; ignored", session.get("id"))
        return None
    if session.get("payment_status") != "paid":
        # Unpaid (an asynchronous method still pending) or nothing to pay: no credit until Stripe says paid.
        log.info("Checkout session %s completed unpaid (%s)", session.get("id"), session.get("payment_status"))
        return payment
    if (session.get("currency") or "").lower() != stripe_gateway.CURRENCY or not payment_intent_id:
        log.error("Checkout session %s is paid but not in USD or has no payment intent", session.get("id"))
        return payment
    amount_total = session.get("amount_total")
    if not isinstance(amount_total, int) or isinstance(amount_total, bool) or amount_total <= 0:
        log.error("Checkout session %s has no positive amount_total", session.get("id"))
        return payment
    if payment.status == CardPayment.Status.CREDITED:
        return payment  # a redelivery, or the async-success event after completed: already credited
    amount_nanos = cents_to_nanos(amount_total)
    result = _post(
        payment=payment,
        key=f"stripe:{payment_intent_id}",
        kind=Transaction.Kind.CARD_DEPOSIT,
        buyer_nanos=amount_nanos,
        memo=f"Card deposit {format_usd(amount_nanos)}",
        reference=f"stripe:checkout:{session.get('id')}",
    )
    payment.status = CardPayment.Status.CREDITED
    payment.credited_nanos = amount_nanos
    payment.payment_intent_id = payment_intent_id
    payment.checkout_session_id = session.get("id")
    payment.credit_transaction_id = result.transaction_id
    payment.credited_at = timezone.now()
    payment.save(
        update_fields=[
            "status",
            "credited_nanos",
            "payment_intent_id",
            "checkout_session_id",
            "credit_transaction",
            "credited_at",
        ]
    )
    _refunds_apply_early(payment_intent_id)
    _disputes_apply_early(payment_intent_id)
    return payment


@transaction.atomic
def card_checkout_expired(*, session: dict) -> CardPayment | None:
    payment = _payment_for_session(session)
    if payment is not None and payment.status == CardPayment.Status.PENDING:
        payment.status = CardPayment.Status.EXPIRED
        payment.save(update_fields=["status"])
    return payment


@transaction.atomic
def card_charge_refunded(*, charge: dict) -> CardPayment | None:
    """Debit refunds by Stripe's cumulative `amount_refunded`: only the part not debited yet is posted,
    under a key naming that cumulative amount, so redelivered or out-of-order events post nothing."""
    payment_intent_id = _id(charge.get("payment_intent"))
    if payment_intent_id:
        _intent_lock(payment_intent_id)
    payment = _payment_for_intent(payment_intent_id)
    if payment is None or payment.status != CardPayment.Status.CREDITED:
        # Stored with its event: if the payment is ours and its credit is still to come, the credit applies it.
        log.warning("Refund of charge %s matches no credited card payment (yet)", charge.get("id"))
        return payment
    refunded_cents = charge.get("amount_refunded")
    if not isinstance(refunded_cents, int) or isinstance(refunded_cents, bool) or refunded_cents < 0:
        log.error("Charge %s has no valid amount_refunded", charge.get("id"))
        return payment
    target = min(cents_to_nanos(refunded_cents), payment.credited_nanos)
    delta = target - payment.refunded_nanos
    if delta <= 0:
        return payment
    _post(
        payment=payment,
        key=f"stripe:refund:{charge['id']}:{refunded_cents}",
        kind=Transaction.Kind.CARD_REFUND,
        buyer_nanos=-delta,
        memo=f"Card refund {format_usd(delta)}",
        reference=f"stripe:charge:{charge['id']}",
    )
    payment.refunded_nanos = target
    payment.charge_id = charge["id"]
    payment.save(update_fields=["refunded_nanos", "charge_id"])
    return payment


def _dispute_status(stripe_status: str) -> str:
    if stripe_status == "won":
        return CardDispute.Status.WON
    if stripe_status == "lost":
        return CardDispute.Status.LOST
    if stripe_status == "warning_closed":
        return CardDispute.Status.CLOSED
    if stripe_status.startswith("warning_"):
        return CardDispute.Status.INQUIRY
    return CardDispute.Status.OPEN


@transaction.atomic
def card_dispute_update(*, dispute: dict) -> CardDispute | None:
    """Apply a dispute's current state, whichever event carried it.

    Stripe withdraws the disputed amount when a chargeback opens (any status but the `warning_*`
    inquiries) and returns it when the dispute is won; we mirror both, each once. Events may arrive
    in any order: a `won` seen first posts the withdrawal and the return together, and one seen before
    its payment's credit waits for it (the credit applies the stored events: `_disputes_apply_early`).
    """
    payment_intent_id = _id(dispute.get("payment_intent"))
    if payment_intent_id:
        _intent_lock(payment_intent_id)  # serialized with the payment's credit, as refunds are
    payment = _payment_for_intent(payment_intent_id)
    if payment is None or payment.status != CardPayment.Status.CREDITED:
        # Stored with its event: if the payment is ours and its credit is still to come, the credit applies
        # it. Debiting now would withdraw funds never credited (and nothing at all when the row is unknown).
        log.warning("Dispute %s matches no credited card payment (yet)", dispute.get("id"))
        return None
    amount_cents = dispute.get("amount")
    stripe_status = str(dispute.get("status") or "")
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents <= 0 or not stripe_status:
        log.error("Dispute %s has no valid amount or status", dispute.get("id"))
        return None
    amount_nanos = cents_to_nanos(amount_cents)
    status = _dispute_status(stripe_status)
    record, _ = CardDispute.objects.get_or_create(
        dispute_id=dispute["id"],
        defaults={
            "card_payment": payment,
            "account": payment.account,
            "status": status,
            "stripe_status": stripe_status,
            "amount_nanos": amount_nanos,
            "reason": str(dispute.get("reason") or "")[:100],
        },
    )
    record = CardDispute.objects.select_for_update().get(id=record.id)
    reference = f"stripe:dispute:{dispute['id']}"
    withdrawn = status in (CardDispute.Status.OPEN, CardDispute.Status.WON, CardDispute.Status.LOST)
    if withdrawn and not record.debited_nanos:
        _post(
            payment=payment,
            key=f"{reference}:withdrawn",
            kind=Transaction.Kind.CARD_DISPUTE,
            buyer_nanos=-amount_nanos,
            memo=f"Card dispute {format_usd(amount_nanos)} withdrawn",
            reference=reference,
        )
        record.debited_nanos = amount_nanos
    if status == CardDispute.Status.WON and record.debited_nanos and not record.reinstated_nanos:
        _post(
            payment=payment,
            key=f"{reference}:won",
            kind=Transaction.Kind.CARD_DISPUTE,
            buyer_nanos=record.debited_nanos,
            memo=f"Card dispute won: {format_usd(record.debited_nanos)} returned",
            reference=reference,
        )
        record.reinstated_nanos = record.debited_nanos
    final = status in (CardDispute.Status.WON, CardDispute.Status.LOST, CardDispute.Status.CLOSED)
    # A closed dispute is final at Stripe: an older event delivered late must not reopen it.
    if final or not record.closed_at:
        record.status = status
        record.stripe_status = stripe_status
    if final and not record.closed_at:
        record.closed_at = timezone.now()
    record.save()
    if dispute.get("charge") and not payment.charge_id:
        payment.charge_id = _id(dispute.get("charge"))
        payment.save(update_fields=["charge_id"])
    return record


# --- dj-stripe's rows, from settings ----------------------------------------------------------------


def stripe_webhook_path() -> str:
    from django.urls import reverse

    return reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": settings.STRIPE_WEBHOOK_UUID})


@transaction.atomic
def stripe_setup_ensure():
    """Write dj-stripe's Account, APIKey and WebhookEndpoint rows from settings (idempotent; run by
    migrate and `manage.py stripe_setup`). With them, dj-stripe verifies and stores a webhook without
    asking Stripe who we are. Returns the endpoint, or None when card payments are not configured."""
    from djstripe.enums import APIKeyType, WebhookEndpointStatus, WebhookEndpointValidation
    from djstripe.models import Account as StripeAccount
    from djstripe.models import APIKey as StripeAPIKey
    from djstripe.models import WebhookEndpoint

    from .stripe_webhooks import HANDLED_EVENTS

    if not stripe_gateway.card_payments_enabled():
        return None
    livemode = settings.STRIPE_LIVE_MODE
    account, _ = StripeAccount.objects.update_or_create(
        id=settings.STRIPE_ACCOUNT_ID,
        defaults={"livemode": livemode, "stripe_data": {"id": settings.STRIPE_ACCOUNT_ID, "object": "account"}},
    )
    # A rotated key replaces the old one: dj-stripe uses the account's first secret key.
    StripeAPIKey.objects.filter(djstripe_owner_account=account, type=APIKeyType.secret).exclude(
        secret=stripe_gateway.secret_key()
    ).delete()
    StripeAPIKey.objects.update_or_create(
        secret=stripe_gateway.secret_key(),
        defaults={
            "type": APIKeyType.secret,
            "livemode": livemode,
            "name": "INFER (from settings)",
            "djstripe_owner_account": account,
        },
    )
    endpoint_uuid = uuid.UUID(settings.STRIPE_WEBHOOK_UUID)
    endpoint, _ = WebhookEndpoint.objects.update_or_create(
        djstripe_uuid=endpoint_uuid,
        defaults={
            "id": f"we_infer_{endpoint_uuid.hex}",
            "secret": settings.STRIPE_WEBHOOK_SECRET,
            "url": f"{settings.SITE_URL}{stripe_webhook_path()}",
            "enabled_events": sorted(HANDLED_EVENTS),
            "status": WebhookEndpointStatus.enabled,
            "livemode": livemode,
            "djstripe_owner_account": account,
            "djstripe_tolerance": settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
            "djstripe_validation_method": WebhookEndpointValidation.verify_signature,
        },
    )
    return endpoint
