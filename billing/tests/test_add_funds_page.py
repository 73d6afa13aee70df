"""The portal's Add funds page: the card form, its limits, Stripe Checkout, and the deposit history."""

import time

import pytest

from billing.checks import ledger_check
from billing.models import CardPayment
from billing.tests import stripe_fakes as fakes

pytestmark = pytest.mark.django_db

USD = 1_000_000_000


@pytest.fixture
def alice_client(client, alice, alice_account):
    client.force_login(alice)
    return client


def test_it_sends_the_buyer_to_stripe_checkout(alice_client, alice_account, stripe_on):
    response = alice_client.post("/funds/", {"amount": "25.00"})

    payment = CardPayment.objects.get(account=alice_account)
    assert response.status_code == 302
    assert response["Location"] == payment.checkout_url
    assert payment.checkout_url.startswith(f"{stripe_on.url}/pay/")
    assert payment.status == CardPayment.Status.PENDING
    assert payment.amount_nanos == 25 * USD
    method, path, form = stripe_on.requests[-1]
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert form["line_items[0][price_data][unit_amount]"] == "2500"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["payment_method_types[0]"] == "card"
    assert form["metadata[card_payment]"] == str(payment.code)
    assert form["client_reference_id"] == str(payment.code)
    assert form["customer_email"] == "alice@example.com"
    assert form["success_url"] == f"http://testserver/funds/?checkout=success&payment={payment.code}"
    assert 3500 < int(form["expires_at"]) - time.time() <= 3600


@pytest.mark.parametrize("amount", ["4.99", "0", "-10", "0.50"])
def test_it_refuses_an_amount_under_five_dollars(alice_client, stripe_on, amount):
    response = alice_client.post("/funds/", {"amount": amount})
    assert response.status_code == 400
    assert "The minimum deposit is $5.00." in response.content.decode()
    assert not CardPayment.objects.exists()
    assert not stripe_on.requests


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("", "Enter the amount to add, e.g. 25.00."),
        ("ten dollars", "Enter an amount in US dollars, e.g. 25.00."),
        ("10.001", "Enter an amount in whole cents, e.g. 25.00."),
        ("1000000.00", "The maximum for one card payment is $999,999.99."),
    ],
)
def test_it_explains_other_bad_amounts(alice_client, stripe_on, amount, message):
    response = alice_client.post("/funds/", {"amount": amount})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not CardPayment.objects.exists()


@pytest.mark.parametrize("amount", ["5", "$1,250.50", "999999.99"])
def test_it_accepts_amounts_from_five_dollars_with_no_maximum_of_ours(alice_client, stripe_on, amount):
    assert alice_client.post("/funds/", {"amount": amount}).status_code == 302


def test_it_applies_a_maximum_when_one_is_set(alice_client, stripe_on, settings):
    settings.MAX_DEPOSIT_NANOS = 500 * USD
    response = alice_client.post("/funds/", {"amount": "500.01"})
    assert "The maximum for one card payment is $500.00." in response.content.decode()
    assert alice_client.get("/funds/").content.decode().count("Maximum $500.00 per payment.") == 1


def test_it_says_so_when_stripe_fails_and_charges_nothing(alice_client, alice_account, stripe_on):
    stripe_on.fail_with = 500
    response = alice_client.post("/funds/", {"amount": "25.00"})
    assert response.status_code == 400
    assert "Card payments are unavailable right now" in response.content.decode()
    assert CardPayment.objects.get(account=alice_account).status == CardPayment.Status.FAILED


def test_it_hides_the_card_form_when_stripe_is_not_configured(alice_client, settings):
    settings.STRIPE_TEST_SECRET_KEY = ""
    page = alice_client.get("/funds/").content.decode()
    assert "Card payments are not configured" in page
    assert 'name="amount"' not in page
    assert alice_client.post("/funds/", {"amount": "25.00"}).status_code == 400
    assert not CardPayment.objects.exists()


def test_it_lists_the_accounts_deposits_and_not_another_tenants(
    client, alice, charlie, alice_account, charlie_account, stripe_on
):
    from billing.tests.conftest import checkout

    mine = checkout(alice_account, 25 * USD)
    theirs = checkout(charlie_account, 7 * USD)
    client.force_login(alice)
    page = client.get("/funds/").content.decode()
    assert f'data-testid="deposit-{mine.code}"' in page
    assert f'data-testid="deposit-{theirs.code}"' not in page
    assert "Awaiting confirmation" in page
    fragment = client.get("/funds/history/").content.decode()
    assert f'data-testid="deposit-{mine.code}"' in fragment
    assert f'data-testid="deposit-{theirs.code}"' not in fragment
    assert 'data-unsettled="1"' in fragment


def test_it_shows_the_dispute_banner_while_blocked(alice_client, alice_account, stripe_on, client):
    from billing.card_services import card_checkout_completed, card_dispute_update
    from billing.tests.conftest import checkout
    from conftest import fund

    payment = checkout(alice_account, 25 * USD)
    session = fakes.paid_session(stripe_on.sessions[payment.checkout_session_id])
    card_checkout_completed(session=session)
    fund(alice_account, -20 * USD)
    assert 'data-testid="dispute-banner"' not in alice_client.get("/funds/").content.decode()
    card_dispute_update(
        dispute=fakes.dispute(
            dispute_id="dp_test_banner",
            charge_id="ch_x",
            payment_intent=session["payment_intent"],
            amount=2500,
            status="needs_response",
        )
    )
    page = alice_client.get("/funds/").content.decode()
    assert 'data-testid="dispute-banner"' in page
    assert "Disputed" in page
    assert ledger_check().ok


def test_it_requires_a_login(client):
    response = client.get("/funds/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
