"""Stripe webhook events we act on, wired into dj-stripe's endpoint in place of its default handlers.

dj-stripe verifies the signature (offline, with the endpoint secret), stores the Event once (its id is
unique) and sends a signal per event type inside one database transaction; a failure rolls it all back
and answers 500, so Stripe retries. Its default handlers for these types would re-fetch the object from
Stripe's API; ours take what they need from the signed payload, so processing needs no network.
"""

import inspect
import logging

from djstripe import event_handlers
from djstripe.models import Event
from djstripe.signals import WEBHOOK_SIGNALS, webhook_pre_validate

from . import card_services

log = logging.getLogger(__name__)


def _on_checkout_completed(sender, event, **kwargs):
    card_services.card_checkout_completed(session=event.data["object"])


def _on_checkout_expired(sender, event, **kwargs):
    card_services.card_checkout_expired(session=event.data["object"])


def _on_charge_refunded(sender, event, **kwargs):
    card_services.card_charge_refunded(charge=event.data["object"])


def _on_dispute(sender, event, **kwargs):
    card_services.card_dispute_update(dispute=event.data["object"])


def _drop_secret_override(sender, instance, **kwargs):
    """With DEBUG on, dj-stripe lets a request name its own webhook secret (header
    `X-Djstripe-Webhook-Secret`, meant for the Stripe CLI); anyone could then sign events. A development
    server can be reachable too, so the header is dropped: `stripe listen` prints a secret to configure."""
    instance.headers = {k: v for k, v in instance.headers.items() if k.lower() != "x-djstripe-webhook-secret"}


HANDLERS = {
    "checkout.session.completed": _on_checkout_completed,
    # An asynchronous payment method that settled later; cards complete paid, but both are safe.
    "checkout.session.async_payment_succeeded": _on_checkout_completed,
    "checkout.session.expired": _on_checkout_expired,
    "charge.refunded": _on_charge_refunded,
    "charge.dispute.created": _on_dispute,
    "charge.dispute.updated": _on_dispute,
    "charge.dispute.funds_withdrawn": _on_dispute,
    "charge.dispute.funds_reinstated": _on_dispute,
    "charge.dispute.closed": _on_dispute,
}
HANDLED_EVENTS = frozenset(HANDLERS)

# dj-stripe's default handlers re-fetch objects from Stripe inside the webhook's database transaction.
# We use none of the models they sync, so all of them are disconnected: an event we do not handle
# (if Stripe's dashboard sends more than HANDLED_EVENTS) is stored and acknowledged, nothing more.
_DJSTRIPE_DEFAULTS = tuple(
    handler
    for name, handler in inspect.getmembers(event_handlers, inspect.isfunction)
    if name.startswith("handle_") and handler.__module__ == event_handlers.__name__
)


def stripe_webhooks_connect() -> None:
    """Disconnect dj-stripe's network-bound handlers and connect ours (from AppConfig.ready)."""
    for signal in WEBHOOK_SIGNALS.values():
        for default in _DJSTRIPE_DEFAULTS:
            signal.disconnect(receiver=default, sender=Event)
    for event_type, handler in HANDLERS.items():
        WEBHOOK_SIGNALS[event_type].connect(handler, sender=Event, dispatch_uid=f"infer:{event_type}")
    webhook_pre_validate.connect(_drop_secret_override, dispatch_uid="infer:drop-secret-override")
