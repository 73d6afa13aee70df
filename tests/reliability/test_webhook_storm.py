"""A webhook storm: 500 signed Stripe events, each delivered 3 times, shuffled, 10 at a time, to the live endpoint.

The balances must equal those of the same events delivered once, in order, to a twin set of accounts.
Events: paid checkouts, the same payments again as `async_payment_succeeded`, partial and full refunds
(cumulative amounts, so a late partial refund must not debit twice). Seeded, so a failure repeats.
"""

import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.test import Client

from accounts.models import User
from accounts.services import account_create
from billing.checks import ledger_check
from billing.models import CardDispute, CardPayment, Transaction
from billing.selectors import buyer_ledger_account
from billing.tests import stripe_fakes as fakes
from billing.tests.conftest import checkout

pytestmark = pytest.mark.django_db(transaction=True)

USD = 1_000_000_000
SEED = 20261127
ACCOUNTS = 10
PAYMENTS = 300  # 300 completed + 50 async_payment_succeeded + 100 partial + 50 full refunds = 500 events


def world(name: str, fake) -> tuple[list, list[dict]]:
    """Ten buyers and the 500 events of their card payments, in the order Stripe would emit them."""
    rng = random.Random(SEED)  # the same amounts in both worlds
    accounts = []
    for i in range(ACCOUNTS):
        user = User.objects.create_user(email=f"{name}-{i}@storm.example")
        accounts.append(account_create(name=f"{name} {i}", owner=user))
    events = []
    later = []
    for n in range(PAYMENTS):
        cents = rng.randrange(500, 10_000)
        payment = checkout(accounts[n % ACCOUNTS], cents * USD // 100)
        session = fakes.paid_session(fake.sessions[payment.checkout_session_id])
        intent = session["payment_intent"]
        events.append(fakes.event("checkout.session.completed", session))
        if n % 6 == 0:
            later.append(fakes.event("checkout.session.async_payment_succeeded", session))
        if n % 3 == 0:
            charge_id = f"ch_{name}_{n}"
            partial = cents // 3
            later.append(
                fakes.event(
                    "charge.refunded",
                    fakes.charge(payment_intent=intent, amount=cents, amount_refunded=partial, charge_id=charge_id),
                )
            )
            if n % 6 == 0:
                later.append(
                    fakes.event(
                        "charge.refunded",
                        fakes.charge(payment_intent=intent, amount=cents, amount_refunded=cents, charge_id=charge_id),
                    )
                )
    events += later
    assert len(events) == 500
    return accounts, events


def balances(accounts) -> list[int]:
    return [buyer_ledger_account(account=account).balance_nanos for account in accounts]


def deliver_in_order(events, webhook_path):
    """Each event once, in order, through the webhook view: the reference outcome."""
    client = Client()
    for evt in events:
        body, header = fakes.signed(evt)
        response = client.post(webhook_path, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
        assert response.status_code == 200


def deliver_storm(events, url, *, seed) -> list[int]:
    """Each event three times, shuffled, 10 at a time over HTTP; the statuses answered."""
    deliveries = [fakes.signed(evt) for evt in events for _ in range(3)]
    random.Random(seed).shuffle(deliveries)
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=10)) as http:

        def post(delivery):
            body, header = delivery
            return http.post(
                url, content=body, headers={"Content-Type": "application/json", "Stripe-Signature": header}
            ).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            return list(pool.map(post, deliveries))


def test_a_shuffled_triple_delivery_storm_ends_with_the_balances_of_one_in_order_delivery(
    live_server, webhook_path, stripe_on
):
    calm_accounts, calm_events = world("calm", stripe_on)
    storm_accounts, storm_events = world("storm", stripe_on)

    deliver_in_order(calm_events, webhook_path)
    statuses = deliver_storm(storm_events, f"{live_server.url}{webhook_path}", seed=SEED)

    assert len(statuses) == 1500
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert balances(storm_accounts) == balances(calm_accounts)
    assert sum(balances(storm_accounts)) > 0
    assert Transaction.objects.filter(kind=Transaction.Kind.CARD_DEPOSIT).count() == 2 * PAYMENTS
    # Refund postings may differ in number (a full refund first makes the partial one post nothing);
    # their sum per account is what the balances above already compared.
    for accounts in (calm_accounts, storm_accounts):
        assert CardPayment.objects.filter(account__in=accounts, status=CardPayment.Status.CREDITED).count() == PAYMENTS
    assert ledger_check().ok


DISPUTED_PAYMENTS = 40


def dispute_world(name: str, fake) -> tuple[list, list[dict]]:
    """Five buyers, 40 card payments, half of them disputed (created, under review for some, then won
    or lost), in the order Stripe would emit the events. Half the payments carry their payment intent
    from the start, as sessions of older API versions do, so a dispute can find the row before its credit."""
    rng = random.Random(SEED + 1)
    accounts = []
    for i in range(5):
        user = User.objects.create_user(email=f"{name}-{i}@disputes.example")
        accounts.append(account_create(name=f"{name} {i}", owner=user))
    events = []
    for n in range(DISPUTED_PAYMENTS):
        cents = rng.randrange(500, 10_000)
        payment = checkout(accounts[n % len(accounts)], cents * USD // 100)
        session = fakes.paid_session(fake.sessions[payment.checkout_session_id])
        intent = session["payment_intent"]
        if n % 4 < 2:
            CardPayment.objects.filter(id=payment.id).update(payment_intent_id=intent)
        events.append(fakes.event("checkout.session.completed", session))
        if n % 2:
            dispute_id, charge_id = f"dp_{name}_{n}", f"ch_{name}_{n}"

            def dispute(kind, status, amount=cents, dispute_id=dispute_id, charge_id=charge_id, intent=intent):
                obj = fakes.dispute(
                    dispute_id=dispute_id, charge_id=charge_id, payment_intent=intent, amount=amount, status=status
                )
                return fakes.event(kind, obj)

            events.append(dispute("charge.dispute.created", "needs_response"))
            if n % 3 == 0:
                events.append(dispute("charge.dispute.updated", "under_review"))
            events.append(dispute("charge.dispute.closed", "won" if n % 4 == 1 else "lost"))
    return accounts, events


def dispute_states(accounts) -> list[tuple]:
    return sorted(
        (d.account.name.split(" ")[1], d.status, d.amount_nanos, d.debited_nanos, d.reinstated_nanos)
        for d in CardDispute.objects.filter(account__in=accounts).select_related("account")
    )


def test_a_shuffled_storm_of_payments_and_their_disputes_ends_as_one_in_order_delivery(
    live_server, webhook_path, stripe_on
):
    calm_accounts, calm_events = dispute_world("calm", stripe_on)
    storm_accounts, storm_events = dispute_world("storm", stripe_on)

    deliver_in_order(calm_events, webhook_path)
    statuses = deliver_storm(storm_events, f"{live_server.url}{webhook_path}", seed=SEED + 1)

    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert balances(storm_accounts) == balances(calm_accounts)
    assert dispute_states(storm_accounts) == dispute_states(calm_accounts)
    assert len(dispute_states(storm_accounts)) == DISPUTED_PAYMENTS // 2
    assert {state[1] for state in dispute_states(calm_accounts)} == {"won", "lost"}
    assert ledger_check().ok
