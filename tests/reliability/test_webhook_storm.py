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
from billing.models import CardPayment, Transaction
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


def test_a_shuffled_triple_delivery_storm_ends_with_the_balances_of_one_in_order_delivery(
    live_server, webhook_path, stripe_on
):
    calm_accounts, calm_events = world("calm", stripe_on)
    storm_accounts, storm_events = world("storm", stripe_on)

    client = Client()
    for evt in calm_events:
        body, header = fakes.signed(evt)
        response = client.post(webhook_path, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
        assert response.status_code == 200

    deliveries = [fakes.signed(evt) for evt in storm_events for _ in range(3)]
    random.Random(SEED).shuffle(deliveries)
    url = f"{live_server.url}{webhook_path}"
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=10)) as http:

        def post(delivery):
            body, header = delivery
            return http.post(
                url, content=body, headers={"Content-Type": "application/json", "Stripe-Signature": header}
            ).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(post, deliveries))

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
