"""Stripe's signed webhooks posted to dj-stripe's real endpoint: card deposits, refunds and disputes."""

import itertools
import json
import time

import pytest
from djstripe.models import Event, WebhookEventTrigger

from accounts.models import User
from accounts.services import account_create
from billing.card_services import BalanceDisputed
from billing.checks import ledger_check
from billing.models import CardDispute, CardPayment, Entry, Transaction
from billing.selectors import account_blocked_by_dispute, buyer_ledger_account
from conftest import fund

from . import stripe_fakes as fakes
from .conftest import checkout

pytestmark = pytest.mark.django_db

USD = 1_000_000_000


class Cards:
    """Card payments driven as in production: started through the fake Stripe, events posted signed."""

    def __init__(self, client, path, fake):
        self.client, self.path, self.fake = client, path, fake

    def start(self, account, amount_nanos):
        payment = checkout(account, amount_nanos)
        return payment, self.fake.sessions[payment.checkout_session_id]

    def deliver(self, evt, **sign):
        body, header = fakes.signed(evt, **sign)
        return self.client.post(self.path, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)

    def pay(self, account, amount_nanos):
        """A card payment paid and credited; returns (payment, payment intent id)."""
        payment, session = self.start(account, amount_nanos)
        session = fakes.paid_session(session)
        assert self.deliver(fakes.event("checkout.session.completed", session)).status_code == 200
        return CardPayment.objects.get(id=payment.id), session["payment_intent"]


@pytest.fixture
def cards(client, webhook_path, stripe_on):
    return Cards(client, webhook_path, stripe_on)


def balance(account):
    return buyer_ledger_account(account=account).balance_nanos


def test_it_credits_a_paid_checkout_once_when_delivered_three_times(ledger_writer, cards, alice_account, stripe_on):
    payment, session = cards.start(alice_account, 25 * USD)
    session = fakes.paid_session(session)
    evt = fakes.event("checkout.session.completed", session)
    requests_before = len(stripe_on.requests)

    for _ in range(3):
        response = cards.deliver(evt)
        assert response.status_code == 200

    assert balance(alice_account) == 25 * USD
    payment.refresh_from_db()
    assert payment.status == CardPayment.Status.CREDITED
    assert payment.credited_nanos == 25 * USD
    assert payment.payment_intent_id == session["payment_intent"]
    txn = Transaction.objects.get(kind=Transaction.Kind.CARD_DEPOSIT)
    assert txn.idempotency_key == f"stripe:{session['payment_intent']}"
    assert Event.objects.filter(id=evt["id"]).count() == 1  # stored once
    assert WebhookEventTrigger.objects.filter(valid=True).count() == 3
    # Processing asked Stripe nothing: no request reached the (fake) API after the session was created.
    assert len(stripe_on.requests) == requests_before
    assert ledger_check().ok


def test_it_credits_once_when_the_same_payment_arrives_as_a_different_event(cards, alice_account):
    _payment, session = cards.start(alice_account, 10 * USD)
    session = fakes.paid_session(session)
    assert cards.deliver(fakes.event("checkout.session.completed", session)).status_code == 200
    late = fakes.event("checkout.session.async_payment_succeeded", session)
    assert cards.deliver(late).status_code == 200
    assert balance(alice_account) == 10 * USD
    assert Transaction.objects.filter(kind=Transaction.Kind.CARD_DEPOSIT).count() == 1
    assert ledger_check().ok


def test_it_credits_what_stripe_says_was_paid(cards, alice_account):
    _payment, session = cards.start(alice_account, 10 * USD)
    session = {**fakes.paid_session(session), "amount_total": 1234}
    assert cards.deliver(fakes.event("checkout.session.completed", session)).status_code == 200
    assert balance(alice_account) == 12_340_000_000
    assert ledger_check().ok


def test_it_finds_the_payment_by_its_code_when_the_session_id_was_never_saved(cards, alice_account):
    payment, session = cards.start(alice_account, 10 * USD)
    session = fakes.paid_session(session)
    CardPayment.objects.filter(id=payment.id).update(checkout_session_id=None)  # as if we crashed after Stripe
    assert cards.deliver(fakes.event("checkout.session.completed", session)).status_code == 200
    assert balance(alice_account) == 10 * USD


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "altered_body", "old_timestamp", "no_signature", "garbage_signature"],
)
def test_it_refuses_an_unverified_event_and_credits_nothing(cards, alice_account, tamper):
    payment, session = cards.start(alice_account, 25 * USD)
    evt = fakes.event("checkout.session.completed", fakes.paid_session(session))
    body = json.dumps(evt).encode()
    header = fakes.signature(body)
    if tamper == "wrong_secret":
        header = fakes.signature(body, secret="whsec_someone_else")
    elif tamper == "altered_body":
        body = body.replace(b'"amount_total": 2500', b'"amount_total": 250000')
        assert b"250000" in body
    elif tamper == "old_timestamp":
        header = fakes.signature(body, timestamp=int(time.time()) - 301)
    elif tamper == "garbage_signature":
        header = "t=1,v1=abc"
    extra = {} if tamper == "no_signature" else {"HTTP_STRIPE_SIGNATURE": header}

    response = cards.client.post(cards.path, data=body, content_type="application/json", **extra)

    assert response.status_code == 400
    assert balance(alice_account) == 0
    assert not Event.objects.exists()
    assert not Transaction.objects.exists()
    assert CardPayment.objects.get(id=payment.id).status == CardPayment.Status.PENDING


def test_it_ignores_a_secret_named_by_the_request_even_in_debug(cards, alice_account, settings):
    settings.DEBUG = True  # dj-stripe honours X-Djstripe-Webhook-Secret only in DEBUG
    _payment, session = cards.start(alice_account, 25 * USD)
    body, header = fakes.signed(
        fakes.event("checkout.session.completed", fakes.paid_session(session)), secret="whsec_mine"
    )
    response = cards.client.post(
        cards.path,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
        HTTP_X_DJSTRIPE_WEBHOOK_SECRET="whsec_mine",
    )
    assert response.status_code == 400
    assert balance(alice_account) == 0


def test_it_accepts_a_timestamp_within_the_tolerance(cards, alice_account):
    _payment, session = cards.start(alice_account, 5 * USD)
    evt = fakes.event("checkout.session.completed", fakes.paid_session(session))
    assert cards.deliver(evt, timestamp=int(time.time()) - 240).status_code == 200
    assert balance(alice_account) == 5 * USD


def test_it_answers_404_on_an_unknown_endpoint(cards, alice_account):
    _payment, session = cards.start(alice_account, 5 * USD)
    evt = fakes.event("checkout.session.completed", fakes.paid_session(session))
    body, header = fakes.signed(evt)
    path = cards.path.replace(fakes.WEBHOOK_UUID, "00000000-0000-4000-8000-000000000000")
    response = cards.client.post(path, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 404
    assert balance(alice_account) == 0


@pytest.mark.parametrize("payment_status", ["unpaid", "no_payment_required"])
def test_it_credits_nothing_for_an_unpaid_session(cards, alice_account, payment_status):
    payment, session = cards.start(alice_account, 25 * USD)
    session = fakes.paid_session(session, payment_status=payment_status)
    assert cards.deliver(fakes.event("checkout.session.completed", session)).status_code == 200
    assert balance(alice_account) == 0
    assert CardPayment.objects.get(id=payment.id).status == CardPayment.Status.PENDING
    assert not Transaction.objects.exists()


def test_it_ignores_a_session_that_is_not_ours(cards, alice_account):
    stranger = {
        "id": "cs_test_elsewhere",
        "object": "checkout.session",
        "mode": "payment",
        "payment_status": "paid",
        "amount_total": 5000,
        "currency": "usd",
        "payment_intent": "pi_test_elsewhere",
        "metadata": {},
        "client_reference_id": None,
    }
    assert cards.deliver(fakes.event("checkout.session.completed", stranger)).status_code == 200
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("event_type", ["charge.succeeded", "payment_intent.succeeded", "customer.created"])
def test_it_stores_other_events_without_asking_stripe(cards, alice_account, event_type):
    requests_before = len(cards.fake.requests)
    kind = event_type.split(".")[0]
    obj = {"id": fakes.stripe_id({"charge": "ch", "payment_intent": "pi", "customer": "cus"}[kind]), "object": kind}
    evt = fakes.event(event_type, obj)
    assert cards.deliver(evt).status_code == 200
    assert Event.objects.filter(id=evt["id"]).exists()
    assert len(cards.fake.requests) == requests_before
    assert not Transaction.objects.exists()


def test_it_marks_an_expired_session(cards, alice_account):
    payment, session = cards.start(alice_account, 25 * USD)
    session = {**session, "status": "expired"}
    assert cards.deliver(fakes.event("checkout.session.expired", session)).status_code == 200
    assert CardPayment.objects.get(id=payment.id).status == CardPayment.Status.EXPIRED
    assert balance(alice_account) == 0


# --- Refunds ---------------------------------------------------------------------------------------------


def test_it_debits_partial_refunds_by_the_cumulative_amount(ledger_writer, cards, alice_account):
    payment, intent = cards.pay(alice_account, 25 * USD)
    charge_id = "ch_test_refunds"
    first = fakes.event(
        "charge.refunded", fakes.charge(payment_intent=intent, amount=2500, amount_refunded=1000, charge_id=charge_id)
    )
    second = fakes.event(
        "charge.refunded", fakes.charge(payment_intent=intent, amount=2500, amount_refunded=2500, charge_id=charge_id)
    )

    assert cards.deliver(first).status_code == 200
    assert balance(alice_account) == 15 * USD
    assert cards.deliver(first).status_code == 200  # redelivered
    assert balance(alice_account) == 15 * USD

    assert cards.deliver(second).status_code == 200
    assert balance(alice_account) == 0
    # The first refund's event, delivered again late, as a new event id: still nothing more.
    late = fakes.event(
        "charge.refunded", fakes.charge(payment_intent=intent, amount=2500, amount_refunded=1000, charge_id=charge_id)
    )
    assert cards.deliver(late).status_code == 200
    assert balance(alice_account) == 0

    keys = set(Transaction.objects.filter(kind=Transaction.Kind.CARD_REFUND).values_list("idempotency_key", flat=True))
    assert keys == {f"stripe:refund:{charge_id}:1000", f"stripe:refund:{charge_id}:2500"}
    payment.refresh_from_db()
    assert payment.refunded_nanos == 25 * USD
    assert payment.charge_id == charge_id
    assert ledger_check().ok


def test_it_debits_only_the_difference_when_refunds_arrive_out_of_order(cards, alice_account):
    _payment, intent = cards.pay(alice_account, 20 * USD)
    full = fakes.event("charge.refunded", fakes.charge(payment_intent=intent, amount=2000, amount_refunded=2000))
    partial = fakes.event("charge.refunded", fakes.charge(payment_intent=intent, amount=2000, amount_refunded=500))
    assert cards.deliver(full).status_code == 200
    assert cards.deliver(partial).status_code == 200
    assert balance(alice_account) == 0
    assert Transaction.objects.filter(kind=Transaction.Kind.CARD_REFUND).count() == 1
    assert ledger_check().ok


def test_a_refund_may_take_the_balance_below_zero(cards, alice_account):
    _payment, intent = cards.pay(alice_account, 10 * USD)
    fund(alice_account, -8 * USD)  # spent on inference
    refund = fakes.event("charge.refunded", fakes.charge(payment_intent=intent, amount=1000, amount_refunded=1000))
    assert cards.deliver(refund).status_code == 200
    assert balance(alice_account) == -8 * USD
    assert not account_blocked_by_dispute(alice_account)  # a refund is not a dispute
    assert ledger_check().ok


def test_it_ignores_a_refund_of_a_charge_that_is_not_ours(cards, alice_account):
    refund = fakes.event(
        "charge.refunded", fakes.charge(payment_intent="pi_test_other", amount=1000, amount_refunded=1000)
    )
    assert cards.deliver(refund).status_code == 200
    assert not Transaction.objects.exists()


# --- Disputes ------------------------------------------------------------------------------------------


def _dispute_event(kind, intent, status, *, dispute_id="dp_test_1", amount=2500):
    return fakes.event(
        kind,
        fakes.dispute(
            dispute_id=dispute_id, charge_id="ch_test_d", payment_intent=intent, amount=amount, status=status
        ),
    )


def _spent_after_deposit(cards, account):
    """$25 paid by card, $20 of it spent: a dispute of the $25 leaves the balance at -$20."""
    payment, intent = cards.pay(account, 25 * USD)
    fund(account, -20 * USD)
    return payment, intent


def test_a_dispute_debits_the_balance_and_blocks_the_account_until_won(ledger_writer, cards, alice_account):
    _payment, intent = _spent_after_deposit(cards, alice_account)
    created = _dispute_event("charge.dispute.created", intent, "needs_response")

    for _ in range(2):
        assert cards.deliver(created).status_code == 200
    assert balance(alice_account) == -20 * USD
    assert account_blocked_by_dispute(alice_account)
    assert BalanceDisputed().status_code == 402 and BalanceDisputed().code == "balance_disputed"
    dispute = CardDispute.objects.get(dispute_id="dp_test_1")
    assert dispute.status == CardDispute.Status.OPEN
    assert dispute.account == alice_account
    assert ledger_check().ok

    assert cards.deliver(_dispute_event("charge.dispute.updated", intent, "under_review")).status_code == 200
    assert balance(alice_account) == -20 * USD

    won = _dispute_event("charge.dispute.closed", intent, "won")
    for _ in range(2):
        assert cards.deliver(won).status_code == 200
    assert balance(alice_account) == 5 * USD
    assert not account_blocked_by_dispute(alice_account)
    dispute.refresh_from_db()
    assert dispute.status == CardDispute.Status.WON
    assert dispute.closed_at is not None
    keys = set(Transaction.objects.filter(kind=Transaction.Kind.CARD_DISPUTE).values_list("idempotency_key", flat=True))
    assert keys == {"stripe:dispute:dp_test_1:withdrawn", "stripe:dispute:dp_test_1:won"}
    assert ledger_check().ok


def test_a_lost_dispute_stays_debited_and_blocks_until_the_balance_is_topped_up(ledger_writer, cards, alice_account):
    _payment, intent = _spent_after_deposit(cards, alice_account)
    assert cards.deliver(_dispute_event("charge.dispute.created", intent, "needs_response")).status_code == 200
    assert cards.deliver(_dispute_event("charge.dispute.closed", intent, "lost")).status_code == 200
    assert balance(alice_account) == -20 * USD
    assert account_blocked_by_dispute(alice_account)
    assert CardDispute.objects.get().status == CardDispute.Status.LOST
    assert ledger_check().ok

    # A new card deposit that brings the balance back to zero or above settles it.
    cards.pay(alice_account, 25 * USD)
    assert balance(alice_account) == 5 * USD
    assert not account_blocked_by_dispute(alice_account)
    assert ledger_check().ok


def test_an_inquiry_withdraws_nothing(cards, alice_account):
    _payment, intent = _spent_after_deposit(cards, alice_account)
    assert cards.deliver(_dispute_event("charge.dispute.created", intent, "warning_needs_response")).status_code == 200
    assert cards.deliver(_dispute_event("charge.dispute.closed", intent, "warning_closed")).status_code == 200
    assert balance(alice_account) == 5 * USD
    assert not account_blocked_by_dispute(alice_account)
    assert CardDispute.objects.get().status == CardDispute.Status.CLOSED
    assert not Transaction.objects.filter(kind=Transaction.Kind.CARD_DISPUTE).exists()


def test_a_won_dispute_seen_before_its_creation_nets_to_nothing(cards, alice_account):
    _payment, intent = _spent_after_deposit(cards, alice_account)
    assert cards.deliver(_dispute_event("charge.dispute.closed", intent, "won")).status_code == 200
    assert cards.deliver(_dispute_event("charge.dispute.created", intent, "needs_response")).status_code == 200
    assert balance(alice_account) == 5 * USD
    assert not account_blocked_by_dispute(alice_account)
    assert CardDispute.objects.get().status == CardDispute.Status.WON
    assert Transaction.objects.filter(kind=Transaction.Kind.CARD_DISPUTE).count() == 2
    assert ledger_check().ok


def test_a_dispute_that_leaves_the_balance_positive_does_not_block(cards, alice_account):
    _payment, intent = cards.pay(alice_account, 25 * USD)
    fund(alice_account, 100 * USD)
    assert cards.deliver(_dispute_event("charge.dispute.created", intent, "needs_response")).status_code == 200
    assert balance(alice_account) == 100 * USD
    assert not account_blocked_by_dispute(alice_account)


def test_the_dispute_check_costs_no_query_for_a_balance_at_or_above_zero(alice_account, django_assert_num_queries):
    # The gateway passes the balance it already read for admission.
    with django_assert_num_queries(0):
        assert not account_blocked_by_dispute(alice_account, balance_nanos=0)
    with django_assert_num_queries(1):
        assert not account_blocked_by_dispute(alice_account, balance_nanos=-1)


def test_another_tenants_dispute_does_not_block_alice(cards, alice_account, charlie_account):
    _payment, intent = cards.pay(charlie_account, 25 * USD)
    fund(charlie_account, -20 * USD)
    assert cards.deliver(_dispute_event("charge.dispute.created", intent, "needs_response")).status_code == 200
    assert account_blocked_by_dispute(charlie_account)
    fund(alice_account, -1 * USD)
    assert not account_blocked_by_dispute(alice_account)


# --- Disputes delivered in any order, before, between and after the payment's events ---------------------


def _card_state(account, payment, *, intent, dispute_id):
    """What in-order and out-of-order deliveries must agree on: the balance, the payment, the buyer's
    ledger transactions (keys with this scenario's Stripe ids replaced) and the dispute's row."""
    ledger = buyer_ledger_account(account=account)
    entries = sorted(
        (key.replace(intent, "<pi>").replace(dispute_id, "<dp>"), kind, amount)
        for key, kind, amount in Entry.objects.filter(ledger_account=ledger).values_list(
            "transaction__idempotency_key", "transaction__kind", "amount_nanos"
        )
    )
    payment.refresh_from_db()
    disputes = [
        (d.status, d.stripe_status, d.amount_nanos, d.debited_nanos, d.reinstated_nanos, d.closed_at is not None)
        for d in CardDispute.objects.filter(card_payment=payment)
    ]
    assert all(d.account_id == account.id for d in CardDispute.objects.filter(card_payment=payment))
    return {
        "balance": ledger.balance_nanos,
        "payment": (payment.status, payment.credited_nanos, payment.refunded_nanos),
        "entries": entries,
        "disputes": disputes,
        "blocked": account_blocked_by_dispute(account),
    }


def _dispute_scenario(cards, name, outcome, order):
    """A $25 card payment and its dispute (created, then closed `outcome`), the events delivered in
    `order` (names of the events, repeats allowed); returns the state it ends in."""
    user = User.objects.create_user(email=f"{name}@disputes.example")
    account = account_create(name=name, owner=user)
    dispute_id = f"dp_{name}"
    # $20 spent ahead of the deposit: a dispute takes the balance below zero.
    fund(account, -20 * USD, key=f"spent:{dispute_id}")
    payment, session = cards.start(account, 25 * USD)
    session = fakes.paid_session(session)
    intent = session["payment_intent"]
    events = {
        "paid": fakes.event("checkout.session.completed", session),
        "created": _dispute_event("charge.dispute.created", intent, "needs_response", dispute_id=dispute_id),
        "closed": _dispute_event("charge.dispute.closed", intent, outcome, dispute_id=dispute_id),
    }
    for event_name in order:
        assert cards.deliver(events[event_name]).status_code == 200
    return _card_state(account, payment, intent=intent, dispute_id=dispute_id)


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_every_order_of_payment_and_dispute_events_ends_as_in_order_delivery(cards, outcome):
    in_order = _dispute_scenario(cards, f"calm-{outcome}", outcome, ["paid", "created", "closed"])
    expected_balance = 5 * USD if outcome == "won" else -20 * USD
    assert in_order["balance"] == expected_balance
    assert in_order["payment"] == (CardPayment.Status.CREDITED, 25 * USD, 0)
    assert in_order["disputes"] == [(outcome, outcome, 25 * USD, 25 * USD, 25 * USD if outcome == "won" else 0, True)]
    assert in_order["blocked"] is (outcome == "lost")

    for n, order in enumerate(itertools.permutations(["paid", "created", "closed"])):
        order = list(order)
        # Each order once, then with every event delivered again (in reverse: duplicates late and early).
        for variant, deliveries in (("once", order), ("twice", order + order[::-1])):
            state = _dispute_scenario(cards, f"o{n}-{variant}-{outcome}", outcome, deliveries)
            assert state == in_order, (deliveries, state)
    assert ledger_check().ok


def test_a_dispute_whose_payment_never_arrives_posts_nothing(cards, alice_account):
    _payment, session = cards.start(alice_account, 25 * USD)
    intent = fakes.paid_session(session)["payment_intent"]
    assert cards.deliver(_dispute_event("charge.dispute.created", intent, "needs_response")).status_code == 200
    assert balance(alice_account) == 0
    assert not CardDispute.objects.exists()
    assert not Transaction.objects.filter(kind=Transaction.Kind.CARD_DISPUTE).exists()


def test_the_whole_dispute_lifecycle_before_the_payment_applies_once_it_is_credited(cards, alice_account):
    payment, session = cards.start(alice_account, 25 * USD)
    session = fakes.paid_session(session)
    intent = session["payment_intent"]
    lifecycle = [
        ("charge.dispute.created", "needs_response"),
        ("charge.dispute.funds_withdrawn", "needs_response"),
        ("charge.dispute.updated", "under_review"),
        ("charge.dispute.closed", "won"),
        ("charge.dispute.funds_reinstated", "won"),
    ]
    for kind, status in reversed(lifecycle):  # newest first, all before the payment
        assert cards.deliver(_dispute_event(kind, intent, status)).status_code == 200
    assert balance(alice_account) == 0
    assert not CardDispute.objects.exists()

    assert cards.deliver(fakes.event("checkout.session.completed", session)).status_code == 200
    assert balance(alice_account) == 25 * USD
    dispute = CardDispute.objects.get()
    assert (dispute.status, dispute.debited_nanos, dispute.reinstated_nanos) == (
        CardDispute.Status.WON,
        25 * USD,
        25 * USD,
    )
    assert dispute.card_payment_id == payment.id
    keys = set(Transaction.objects.filter(kind=Transaction.Kind.CARD_DISPUTE).values_list("idempotency_key", flat=True))
    assert keys == {"stripe:dispute:dp_test_1:withdrawn", "stripe:dispute:dp_test_1:won"}
    assert ledger_check().ok
