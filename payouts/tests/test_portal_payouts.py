"""The payouts page: balance, destinations with their lock, the request form and each refusal's message, history."""

from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone

from payouts.models import Payout, PayoutDestination
from payouts.services import destination_create

from .conftest import OTHER_WALLET, USD, WALLET, code_now, earn, open_violation, unlocked_destination, verify_kyc

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def text(response):
    return unescape(response.content.decode())


def request_payout(client, destination, amount, code, key="form-1"):
    return client.post(
        "/payouts/",
        {"destination": str(destination.code), "amount": amount, "totp_code": code, "idempotency_key": key},
    )


def test_it_shows_withdrawable_destinations_and_history(alice_client, operator, alice, alice_totp, destination):
    locked = destination_create(
        account=operator,
        user=alice,
        kind="usdc_wallet",
        network="base",
        address=OTHER_WALLET,
        label="New wallet",
        now=timezone.now() - timedelta(hours=1),
    )
    request_payout(alice_client, destination, "25.00", code_now(alice_totp))
    page = text(alice_client.get("/payouts/"))

    assert "$75.00" in page  # withdrawable: $100 earned, $25 held
    assert "$25.00 held by pending payouts" in page
    assert WALLET in page
    assert "usable in 23 h 00 min" in page
    assert f"from {locked.unlocks_at():%Y-%m-%d %H:%M} UTC" in page
    assert "Requested</span>" in page


def test_it_requests_a_payout_once_per_form(alice_client, operator, alice_totp, destination):
    first = request_payout(alice_client, destination, "25.00", code_now(alice_totp))
    again = request_payout(alice_client, destination, "25.00", code_now(alice_totp))  # a double submit

    assert first.status_code == again.status_code == 302
    assert Payout.objects.count() == 1
    assert Payout.objects.get().idempotency_key == "portal:form-1"


def refusal_on_page(client, destination, amount, code):
    response = request_payout(client, destination, amount, code)
    assert response.status_code == 400
    assert not Payout.objects.exists()
    return text(response)


def test_it_shows_the_minimum(alice_client, operator, alice_totp, destination):
    assert "The minimum payout is $10.00" in refusal_on_page(alice_client, destination, "9.99", code_now(alice_totp))


def test_it_shows_the_withdrawable_limit(alice_client, operator, alice_totp, destination):
    page = refusal_on_page(alice_client, destination, "150", code_now(alice_totp))
    assert "You can withdraw at most $100.00 now" in page


def test_it_shows_an_open_violation(alice_client, operator, alice_totp, destination):
    open_violation(operator)
    page = refusal_on_page(alice_client, destination, "25", code_now(alice_totp))
    assert "Payouts are blocked while a violation against this account is open" in page


def test_it_shows_the_kyc_rule(alice_client, operator, alice_totp, destination):
    earn(operator, 600 * USD)
    page = refusal_on_page(alice_client, destination, "600", code_now(alice_totp))
    assert "Payouts over $500.00 need a verified identity (KYC)" in page
    verify_kyc(operator)
    assert request_payout(alice_client, destination, "600", code_now(alice_totp), key="f2").status_code == 302


def test_it_shows_a_wrong_code(alice_client, operator, alice_totp, destination):
    page = refusal_on_page(alice_client, destination, "25", "000000")
    assert "That authenticator code is wrong or was already used" in page


def test_it_shows_the_destination_lock(alice_client, operator, alice, alice_totp, destination):
    fresh = destination_create(account=operator, user=alice, kind="usdc_wallet", network="base", address=OTHER_WALLET)
    page = refusal_on_page(alice_client, fresh, "25", code_now(alice_totp))
    assert "This destination was added or changed less than 24 hours ago" in page


def test_it_asks_for_an_authenticator_before_offering_the_form(alice_client, operator, destination):
    page = text(alice_client.get("/payouts/"))
    assert "Payouts need two-factor authentication" in page
    assert 'data-testid="request-form"' not in page
    page = refusal_on_page(alice_client, destination, "25", "123456")
    assert "Set up an authenticator app" in page


def test_it_adds_a_destination_and_explains_a_bad_address(alice_client, operator):
    bad = alice_client.post(
        "/payouts/destinations/add/", {"kind": "usdc_wallet", "network": "ethereum", "address": WALLET.lower()}
    )
    assert bad.status_code == 400
    assert "Enter the address with its EIP-55 checksum" in text(bad)
    assert not PayoutDestination.objects.exists()

    good = alice_client.post(
        "/payouts/destinations/add/", {"kind": "usdc_wallet", "network": "ethereum", "address": WALLET}, follow=True
    )
    assert "Destination added. It can receive payouts from" in text(good)
    assert PayoutDestination.objects.get().address == WALLET


def test_it_hides_another_tenants_destinations(alice_client, operator, charlie_operator, charlie):
    foreign = unlocked_destination(charlie_operator, charlie)
    assert alice_client.post(f"/payouts/destinations/{foreign.code}/remove/").status_code == 404
    assert PayoutDestination.objects.get(id=foreign.id).removed_at is None
    assert str(foreign.code) not in text(alice_client.get("/payouts/"))


def test_it_tells_buyer_accounts_payouts_are_for_operators(alice_client, alice_account):
    response = alice_client.get("/payouts/")
    assert response.status_code == 404
    assert "Payouts are for operator accounts" in text(response)


def test_it_lets_members_see_but_not_request(client, bob, operator, destination):
    client.force_login(bob)
    page = text(client.get("/payouts/"))
    assert "Only the account's owners and admins can request payouts" in page
