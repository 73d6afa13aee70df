"""Bank payouts through Stripe Connect: one transfer per payout, then sent and paid."""

from billing.money import nanos_to_cents

from . import stripe_transfers
from .models import Payout, PayoutDestination
from .services import payout_fail, payout_mark_paid, payout_mark_sent


def payout_stripe_send(*, payout_id: int) -> Payout:
    """Transfer an approved Stripe Connect payout. Safe to run again: Stripe dedupes by our key."""
    payout = Payout.objects.select_related("destination").get(id=payout_id)
    if payout.status != Payout.Status.APPROVED or payout.destination.kind != PayoutDestination.Kind.STRIPE_CONNECT:
        return payout
    try:
        transfer_id = stripe_transfers.transfer_create(
            amount_cents=nanos_to_cents(payout.amount_nanos),
            destination=payout.destination.stripe_account_id,
            idempotency_key=f"payout:{payout.id}:transfer",
            description=f"INFER payout {payout.code}",
        )
    except stripe_transfers.StripeRefused as exc:
        return payout_fail(payout=payout, reason=f"Stripe refused the transfer: {exc}")
    payout = payout_mark_sent(payout=payout, external_reference=transfer_id)
    # A transfer lands in the connected account's Stripe balance at once; Stripe pays it out to
    # the bank on the operator's own schedule, outside INFER's books.
    return payout_mark_paid(payout=payout)
