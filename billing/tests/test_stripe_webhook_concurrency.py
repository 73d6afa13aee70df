"""The same paid checkout delivered concurrently to the live endpoint credits exactly once."""

import threading

import httpx
import pytest
from djstripe.models import Event

from billing.checks import ledger_check
from billing.models import CardPayment, Transaction
from billing.selectors import buyer_ledger_account

from . import stripe_fakes as fakes
from .conftest import checkout

pytestmark = pytest.mark.django_db(transaction=True)

USD = 1_000_000_000


def test_it_credits_once_when_deliveries_race(ledger_writer, live_server, webhook_path, stripe_on, alice_account):
    payment = checkout(alice_account, 25 * USD)
    session = fakes.paid_session(stripe_on.sessions[payment.checkout_session_id])
    same = fakes.event("checkout.session.completed", session)
    # Three deliveries of one event, and the same payment in events with other ids (Stripe's retries of
    # a different event type, or a replay by someone holding an old signed copy of another event).
    events = [same, same, same]
    events += [fakes.event("checkout.session.completed", session) for _ in range(2)]
    events += [fakes.event("checkout.session.async_payment_succeeded", session)]
    bodies = [fakes.signed(evt) for evt in events]
    barrier = threading.Barrier(len(bodies))
    statuses = []

    def post(body, header):
        barrier.wait()
        response = httpx.post(
            f"{live_server.url}{webhook_path}",
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
            timeout=30,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=pair) for pair in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * len(bodies)
    assert buyer_ledger_account(account=alice_account).balance_nanos == 25 * USD
    assert Transaction.objects.filter(kind=Transaction.Kind.CARD_DEPOSIT).count() == 1
    assert Event.objects.filter(id=same["id"]).count() == 1
    assert CardPayment.objects.get(id=payment.id).status == CardPayment.Status.CREDITED
    assert ledger_check().ok
