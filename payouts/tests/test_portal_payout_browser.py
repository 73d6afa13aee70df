"""An operator signs in with MFA, requests a USDC payout with a TOTP code, and sees it paid (headless Chromium)."""

from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.utils import timezone

from billing.chains.testing import balance_of
from payouts import tasks
from payouts.models import Payout

from .conftest import OTHER_WALLET, USD, WALLET, assert_ledger_ok, code_now, totp_for, unlocked_destination, verify_kyc

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_it_requests_a_payout_with_a_totp_code_and_sees_it_paid(
    live_server, page, settings, payout_chain, alice, operator, destination
):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    secret = totp_for(alice)
    verify_kyc(operator)
    settings.PAYOUT_AUTO_APPROVE_MAX_NANOS = 50 * USD  # small payouts of verified operators skip review
    unlocked_destination(
        operator,
        alice,
        kind="manual_bank",
        label="Business account",
        bank_holder_name="Alice Example",
        bank_iban="DE89370400440532013000",
        bank_bic="COBADEFFXXX",
    )
    destination.label = "Main wallet"
    destination.save(update_fields=["label"])

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign In").click()
    page.locator("input[name=code]").fill(code_now(secret))
    page.shots("mfa-at-login")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/payouts/")
    assert "$100.00" in page.get_by_test_id("withdrawable").inner_text()
    page.shots("payouts-page")

    # A wrong code first: the refusal is shown and nothing is requested.
    form = page.get_by_test_id("request-form")
    form.get_by_label("Destination").select_option(label="Main wallet")
    form.get_by_label("Amount (USD)").fill("25.00")
    form.get_by_label("Authenticator code").fill("000000")
    page.get_by_role("button", name="Request payout").click()
    assert "authenticator code is wrong" in page.get_by_test_id("request-error").inner_text()
    page.shots("wrong-code")
    assert not Payout.objects.exists()

    # The login used this window's code: the next window gives a fresh one.
    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=True):
        page.get_by_test_id("request-form").get_by_label("Authenticator code").fill(code_now(secret))
        page.get_by_role("button", name="Request payout").click()
        page.wait_for_url(f"{live_server.url}/payouts/")
    history = page.get_by_test_id("history")
    assert "$25.00" in history.inner_text()
    assert "Sent" in history.inner_text()  # approved automatically, and the worker sent it at once
    page.shots("requested-and-sent")

    tasks.payouts_confirm()  # the beat job follows the transfer to finality
    page.reload()
    assert "Paid" in page.get_by_test_id("history").inner_text()
    assert "$75.00" in page.get_by_test_id("withdrawable").inner_text()
    page.shots("paid")
    assert balance_of(payout_chain, WALLET) == 25 * 10**6
    assert_ledger_ok()

    # A new destination, added through the form, waits out its 24-hour lock.
    page.get_by_text("Add a destination").click()
    add = page.get_by_test_id("destination-form")
    add.get_by_label("Type").select_option(label="USDC wallet")
    add.get_by_label("Name (optional)").fill("Base wallet")
    add.get_by_label("Network").select_option(label="Base")
    add.get_by_label("Wallet address").fill(OTHER_WALLET)
    add.get_by_role("button", name="Add destination").click()
    row = page.get_by_test_id("destinations").get_by_role("row").filter(has_text="Base wallet")
    assert "Locked" in row.inner_text()
    assert "usable in 24 h 00 min" in row.inner_text()
    page.shots("new-destination-locked")

    page.set_viewport_size({"width": 390, "height": 844})
    page.shots("phone")
