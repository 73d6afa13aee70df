"""A buyer adds funds by card in headless Chromium: the form, the $5 minimum, Stripe, the credit."""

import httpx
import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from billing.checks import ledger_check
from billing.models import CardPayment

from . import stripe_fakes as fakes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def login(page, live_server, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/")


def test_it_adds_funds_by_card(live_server, page, alice, alice_account, stripe_on, webhook_path):
    login(page, live_server, alice)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Add funds").click()
    page.wait_for_url(f"{live_server.url}/funds/")
    expect(page.get_by_role("heading", name="Add funds")).to_be_visible()
    expect(page.get_by_text("No deposits yet.")).to_be_visible()
    page.shots("add-funds")

    amount = page.get_by_label("Amount (USD)")
    amount.fill("4.99")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_test_id("amount-error")).to_have_text("The minimum deposit is $5.00.")
    expect(page.get_by_label("Amount (USD)")).to_have_value("4.99")
    expect(page.get_by_label("Amount (USD)")).to_have_attribute("aria-invalid", "true")
    assert not CardPayment.objects.exists()
    page.shots("under-minimum")

    page.get_by_role("button", name="$25").click()
    expect(page.get_by_label("Amount (USD)")).to_have_value("25.00")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(f"{stripe_on.url}/pay/**")
    expect(page.get_by_role("heading")).to_have_text("Pay INFER $25.00")
    page.shots("stripe-checkout")

    # Stripe sends the buyer back, then (a moment later) the signed webhook; the row updates by itself.
    payment = CardPayment.objects.get()
    page.goto(f"{live_server.url}/funds/?checkout=success&payment={payment.code}")
    row = page.get_by_test_id(f"deposit-{payment.code}")
    expect(row).to_contain_text("Awaiting confirmation")
    expect(page.get_by_test_id("checkout-banner")).to_contain_text("Thank you")
    page.shots("back-from-stripe")

    session = fakes.paid_session(stripe_on.sessions[payment.checkout_session_id])
    body, header = fakes.signed(fakes.event("checkout.session.completed", session))
    response = httpx.post(
        f"{live_server.url}{webhook_path}",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": header},
    )
    assert response.status_code == 200
    expect(row).to_contain_text("Credited", timeout=15_000)
    expect(row).to_contain_text("$25.00")
    expect(page.get_by_test_id("balance")).to_contain_text("$25.00")
    page.shots("credited-without-reload")

    page.reload()
    expect(page.get_by_test_id("balance")).to_contain_text("$25.00")
    page.set_viewport_size({"width": 390, "height": 844})
    page.shots("phone")
    assert ledger_check().ok


def test_it_warns_when_a_dispute_blocks_the_account(live_server, page, alice, alice_account, stripe_on):
    from billing.card_services import card_checkout_completed, card_dispute_update
    from conftest import fund

    from .conftest import checkout

    payment = checkout(alice_account, 25_000_000_000)
    session = fakes.paid_session(stripe_on.sessions[payment.checkout_session_id])
    card_checkout_completed(session=session)
    fund(alice_account, -20_000_000_000)
    card_dispute_update(
        dispute=fakes.dispute(
            dispute_id="dp_test_browser",
            charge_id="ch_b",
            payment_intent=session["payment_intent"],
            amount=2500,
            status="needs_response",
        )
    )
    login(page, live_server, alice)
    page.goto(f"{live_server.url}/funds/")
    expect(page.get_by_test_id("dispute-banner")).to_contain_text("API requests are refused")
    expect(page.get_by_test_id("balance")).to_contain_text("-$20.00")
    expect(page.get_by_test_id(f"deposit-{payment.code}")).to_contain_text("Disputed")
    page.shots("disputed")
