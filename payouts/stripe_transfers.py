"""The one module that talks to Stripe for payouts: a Connect transfer of an operator's earnings."""

import stripe
from django.conf import settings


class StripeUnavailable(Exception):
    """Stripe is not configured or did not answer: try again later, nothing was sent."""


class StripeRefused(Exception):
    """Stripe refused the transfer (e.g. the connected account cannot receive): it was never sent."""


def _client() -> stripe.StripeClient:
    key = settings.STRIPE_LIVE_SECRET_KEY if settings.STRIPE_LIVE_MODE else settings.STRIPE_TEST_SECRET_KEY
    if not key:
        raise StripeUnavailable("Stripe is not configured (STRIPE_TEST_SECRET_KEY / STRIPE_LIVE_SECRET_KEY)")
    return stripe.StripeClient(key, base_addresses={"api": settings.PAYOUT_STRIPE_API_BASE}, max_network_retries=2)


def transfer_create(*, amount_cents: int, destination: str, idempotency_key: str, description: str) -> str:
    """Move `amount_cents` USD to a connected account; returns the transfer id.

    Stripe's own idempotency key (`payout:<id>:transfer`) makes a retry after a crash return the
    first transfer instead of sending a second one.
    """
    try:
        transfer = _client().v1.transfers.create(
            params={
                "amount": amount_cents,
                "currency": "usd",
                "destination": destination,
                "description": description,
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.InvalidRequestError as exc:
        raise StripeRefused(exc.user_message or str(exc)) from None
    except stripe.StripeError as exc:
        raise StripeUnavailable(f"Stripe did not answer: {type(exc).__name__}") from None
    return transfer.id
