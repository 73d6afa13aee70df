"""An operator registers a node, sets a price, sees real requests' earnings, and withdraws them with MFA (Chromium)."""

from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.services import account_roles_update
from billing.chains.testing import balance_of
from billing.checks import ledger_check
from billing.money import format_cost, format_usd
from conftest import fund
from payouts import tasks
from payouts.models import Payout
from payouts.tests.conftest import WALLET, code_now, totp_for, unlocked_destination, verify_kyc
from usage.models import Node, UsageRecord

from .conftest import CHEAP_MODEL

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_an_operator_prices_a_node_sees_its_earnings_and_is_paid(
    live_server,
    page,
    settings,
    payout_chain,
    alice,
    alice_account,
    charlie_account,
    client_for,
    charlie_key,
    demo_node_factory,
):
    # Alice's team runs GPUs; Charlie's team buys. A demo node answers 2,000 tokens a request.
    operator = account_roles_update(account=alice_account, is_buyer=False, is_operator=True)
    demo = demo_node_factory(default_max_tokens=2_000)
    fund(charlie_account, 100 * 10**9)
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    secret = totp_for(alice)
    verify_kyc(operator)
    settings.PAYOUT_AUTO_APPROVE_MAX_NANOS = 50 * 10**9  # small payouts of verified operators skip review
    destination = unlocked_destination(operator, alice)
    destination.label = "Main wallet"
    destination.save(update_fields=["label"])

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign In").click()
    page.locator("input[name=code]").fill(code_now(secret))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/")

    # Register the node: the test call reaches the demo node and it goes live.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Nodes").click()
    page.shots("no-nodes")
    page.get_by_role("link", name="Register a node").first.click()
    page.get_by_label("Name").fill("gpu-1 (Frankfurt)")
    page.get_by_label("Base URL").fill(demo.url)
    page.get_by_label("Key to reach it (optional)").fill("sk-node-secret")
    page.locator(f"input[name=models][value='{CHEAP_MODEL}']").check()
    page.locator("input[name=models][value='qwen3-8b']").check()
    page.shots("register-form")
    page.get_by_role("button", name="Register and test").click()
    assert "answered a test request and is live" in page.locator(".messages").inner_text()
    assert "Active: receives requests" in page.get_by_test_id("node-status").inner_text()
    assert "sk-node-secret" not in page.content()

    # A bad price first: a clear message, nothing saved.
    page.get_by_label(f"{CHEAP_MODEL} output price per 1K tokens (USD)").fill("0.0000001")
    page.get_by_role("button", name="Save prices").click()
    assert "at most 6 decimal places" in page.get_by_test_id("prices").inner_text()
    page.shots("price-refused")
    page.get_by_label(f"{CHEAP_MODEL} input price per 1K tokens (USD)").fill("0.5")
    page.get_by_label(f"{CHEAP_MODEL} output price per 1K tokens (USD)").fill("2")
    page.get_by_role("button", name="Save prices").click()
    row = page.get_by_test_id("prices").locator(f"tr[data-model='{CHEAP_MODEL}']")
    assert "$500 / $2000" in row.get_by_test_id("per-1m").inner_text()
    assert "$0.0001 / $0.00015" in row.get_by_test_id("default").inner_text()
    page.shots("priced")

    # Charlie's requests through the real gateway are charged at that price.
    charlie_client = client_for(charlie_key.secret)
    for n in range(4):
        charlie_client.chat.completions.create(
            model=CHEAP_MODEL, messages=[{"role": "user", "content": f"Tell me a story, number {n}"}], max_tokens=2_000
        )
    records = list(UsageRecord.objects.filter(node__account=operator))
    assert len(records) == 4 and {(r.input_price_nanos, r.output_price_nanos) for r in records} == {
        (500_000, 2_000_000)
    }
    earned = sum(r.operator_share_nanos for r in records)
    assert earned > 10 * 10**9

    page.get_by_role("link", name="Earnings").click()
    assert format_usd(earned) in page.get_by_test_id("earned-today").inner_text()
    assert format_usd(earned) in page.get_by_test_id("earned-30d").inner_text()
    assert format_cost(earned) in page.get_by_test_id("by-node").inner_text()
    assert "gpu-1 (Frankfurt)" in page.get_by_test_id("by-node").inner_text()
    page.shots("earnings")

    # Withdraw $10 of it with a fresh authenticator code; the worker pays it on chain.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Payouts").click()
    assert format_usd(earned) in page.get_by_test_id("withdrawable").inner_text()
    form = page.get_by_test_id("request-form")
    form.get_by_label("Destination").select_option(label="Main wallet")
    form.get_by_label("Amount (USD)").fill("10.00")
    # The login used this window's code: the next window gives a fresh one.
    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=True):
        form.get_by_label("Authenticator code").fill(code_now(secret))
        page.get_by_role("button", name="Request payout").click()
        page.wait_for_url(f"{live_server.url}/payouts/")
    assert "Sent" in page.get_by_test_id("history").inner_text()
    tasks.payouts_confirm()  # the beat job follows the transfer to finality
    page.reload()
    assert "Paid" in page.get_by_test_id("history").inner_text()
    assert format_usd(earned - 10 * 10**9) in page.get_by_test_id("withdrawable").inner_text()
    page.shots("paid")
    assert Payout.objects.get().status == Payout.Status.PAID
    assert balance_of(payout_chain, WALLET) == 10 * 10**6

    # Pausing the node from its page takes it out of routing.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Nodes").click()
    page.get_by_role("link", name="gpu-1 (Frankfurt)").click()
    page.get_by_role("button", name="Pause").click()
    assert "Paused by you" in page.get_by_test_id("node-status").inner_text()
    assert Node.objects.get().status == Node.Status.PAUSED
    page.shots("paused")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/earnings/")
    page.shots("earnings-phone")
    report = ledger_check()
    assert report.ok, report.problems
