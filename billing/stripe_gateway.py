"""The one module that talks to Stripe's API: creating Checkout sessions for card deposits.

Webhooks come the other way, through dj-stripe's endpoint, and are verified offline with the
endpoint secret (see billing/stripe_webhooks.py); nothing here is called while processing them.
Tests point `STRIPE_API_BASE` at a fake Stripe on loopback, so the real HTTP client runs.
"""

import logging
import time
from dataclasses import dataclass

import stripe
from django.conf import settings

from infer.errors import ApplicationError

from .money import nanos_to_cents

log = logging.getLogger(__name__)

CURRENCY = "usd"
# Stripe's ceiling for one USD payment ($999,999.99); our own maximum, if any, is MAX_DEPOSIT_NANOS.
STRIPE_MAX_PAYMENT_CENTS = 99_999_999
# An abandoned checkout expires after an hour (Stripe allows 30 min to 24 h), so a pending deposit in
# the history turns into "expired" soon instead of waiting a day.
CHECKOUT_EXPIRES_SECONDS = 3600


class StripeUnavailable(ApplicationError):
    """Stripe could not be reached or refused the request; nothing was charged."""

    def __init__(self, message="Card payments are unavailable right now. Please try again in a few minutes."):
        super().__init__(message, code="stripe_unavailable", status_code=502)


def secret_key() -> str:
    """The secret key of the current mode (test unless STRIPE_LIVE_MODE), or "" when unset."""
    key = settings.STRIPE_LIVE_SECRET_KEY if settings.STRIPE_LIVE_MODE else settings.STRIPE_TEST_SECRET_KEY
    return key or ""


def card_payments_enabled() -> bool:
    """An integration is on when its keys are set: a secret key to create sessions, a webhook secret to
    credit them. Without the second, money could be taken that we would never credit."""
    return bool(secret_key() and settings.STRIPE_WEBHOOK_SECRET)


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    payment_intent_id: str | None


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key(),
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


def checkout_session_create(
    *,
    amount_nanos: int,
    payment_code: str,
    account_code: str,
    customer_email: str | None,
    success_url: str,
    cancel_url: str,
) -> CheckoutSession:
    """Create a card-only Checkout session for `amount_nanos` (whole cents).

    Our payment's code travels in the session's metadata and `client_reference_id`, so the webhook finds
    the payment even if we crash before saving the session id. Stripe's idempotency key is the payment's
    code: a retried call returns the same session instead of a second one.
    """
    if not card_payments_enabled():
        raise StripeUnavailable("Card payments are not configured on this installation.")
    cents = nanos_to_cents(amount_nanos)
    params = {
        "mode": "payment",
        "payment_method_types": ["card"],
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": CURRENCY,
                    "unit_amount": cents,
                    "product_data": {"name": "INFER balance"},
                },
            }
        ],
        "client_reference_id": payment_code,
        "metadata": {"card_payment": payment_code, "account": account_code},
        "payment_intent_data": {"metadata": {"card_payment": payment_code, "account": account_code}},
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int(time.time()) + CHECKOUT_EXPIRES_SECONDS,
    }
    if customer_email:
        params["customer_email"] = customer_email
    try:
        session = _client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": f"infer-checkout-{payment_code}"}
        )
    except stripe.StripeError as exc:
        log.warning("Stripe refused or failed to create a Checkout session for %s: %s", payment_code, exc)
        raise StripeUnavailable() from exc
    data = session.to_dict()
    payment_intent = data.get("payment_intent")
    if isinstance(payment_intent, dict):
        payment_intent = payment_intent.get("id")
    return CheckoutSession(id=data["id"], url=data["url"], payment_intent_id=payment_intent or None)
