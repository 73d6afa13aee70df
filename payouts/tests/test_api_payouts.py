"""POST /api/payouts and GET /api/payouts: eligibility refusals, the idempotency contract, tenancy."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from billing.selectors import operator_ledger_account
from payouts.models import Payout
from payouts.services import destination_create

from .conftest import (
    OTHER_WALLET,
    USD,
    assert_ledger_ok,
    code_now,
    earn,
    open_violation,
    totp_for,
    unlocked_destination,
    verify_kyc,
)

pytestmark = pytest.mark.django_db


def client_for(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    return client


def post(client, *, destination, amount, code, key="k-1"):
    return client.post(
        "/api/payouts",
        {"destination": str(destination.code), "amount": amount, "totp_code": code},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_it_requests_a_payout_and_holds_the_earnings(
    operator, alice_key, alice_totp, destination, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client_for(alice_key), destination=destination, amount="25.00", code=code_now(alice_totp))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "requested"
    assert body["amount"] == "25"
    assert body["amount_nanos"] == 25 * USD
    assert body["to_address"] == destination.address
    payout = Payout.objects.get(code=body["code"])
    assert payout.hold.key == f"payout:{payout.id}"
    assert payout.hold.kind == "payout"
    assert operator_ledger_account(account=operator).held_nanos == 25 * USD
    listed = client_for(alice_key).get("/api/payouts").json()
    assert listed["withdrawable_nanos"] == 75 * USD
    assert [p["code"] for p in listed["results"]] == [body["code"]]
    assert mail.outbox[-1].subject == "[INFER] Payout of $25.00 requested"
    assert mail.outbox[-1].to == ["alice@example.com"]
    assert "0x5aAe" in mail.outbox[-1].body
    assert_ledger_ok()


def test_it_answers_the_same_key_and_body_with_the_same_payout(operator, alice_key, alice_totp, destination):
    client = client_for(alice_key)
    first = post(client, destination=destination, amount="25.00", code=code_now(alice_totp), key="same")
    # A retry after a timeout: the code was used up by the first request, and that is fine.
    again = post(client, destination=destination, amount="25.00", code=code_now(alice_totp), key="same")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Payout.objects.count() == 1
    assert operator_ledger_account(account=operator).held_nanos == 25 * USD


def test_it_refuses_the_same_key_with_another_body(operator, alice_key, alice_totp, destination):
    client = client_for(alice_key)
    post(client, destination=destination, amount="25.00", code=code_now(alice_totp), key="same")
    other = post(client, destination=destination, amount="30.00", code=code_now(alice_totp), key="same")

    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    assert Payout.objects.count() == 1
    assert operator_ledger_account(account=operator).held_nanos == 25 * USD


def test_it_requires_an_idempotency_key(operator, alice_key, alice_totp, destination):
    response = post(client_for(alice_key), destination=destination, amount="25.00", code=code_now(alice_totp), key="")

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert not Payout.objects.exists()


def refusal(response):
    return response.status_code, response.json().get("code"), response.json().get("detail")


def test_it_refuses_less_than_the_minimum(operator, alice_key, alice_totp, destination):
    status, code, detail = refusal(
        post(client_for(alice_key), destination=destination, amount="9.99", code=code_now(alice_totp))
    )
    assert (status, code) == (400, "below_minimum")
    assert detail == "The minimum payout is $10.00"
    assert not Payout.objects.exists()


def test_it_refuses_more_than_the_withdrawable_earnings(operator, alice_key, alice_totp, destination):
    status, code, detail = refusal(
        post(client_for(alice_key), destination=destination, amount="100.01", code=code_now(alice_totp))
    )
    assert (status, code) == (400, "insufficient_earnings")
    assert detail == "You can withdraw at most $100.00 now"
    assert operator_ledger_account(account=operator).held_nanos == 0


def test_it_counts_pending_payouts_against_the_withdrawable_earnings(operator, alice_key, alice_totp, destination):
    client = client_for(alice_key)
    assert post(client, destination=destination, amount="60", code=code_now(alice_totp), key="a").status_code == 201
    status, code, detail = refusal(post(client, destination=destination, amount="60", code="000000", key="b"))

    assert (status, code) == (400, "insufficient_earnings")
    assert detail == "You can withdraw at most $40.00 now"


def test_it_refuses_while_a_violation_is_open(operator, alice_key, alice_totp, destination):
    open_violation(operator)
    status, code, detail = refusal(
        post(client_for(alice_key), destination=destination, amount="25", code=code_now(alice_totp))
    )
    assert (status, code) == (403, "open_violation")
    assert "violation" in detail
    assert not Payout.objects.exists()


def test_it_requires_kyc_above_the_threshold(operator, alice_key, alice_totp, destination):
    earn(operator, 500 * USD)
    status, code, detail = refusal(
        post(client_for(alice_key), destination=destination, amount="500.01", code=code_now(alice_totp))
    )
    assert (status, code) == (403, "kyc_required")
    assert detail.startswith("Payouts over $500.00 need a verified identity (KYC)")


def test_it_allows_exactly_the_threshold_without_kyc_and_more_with_it(operator, alice_key, alice_totp, destination):
    earn(operator, 1000 * USD)
    client = client_for(alice_key)
    assert post(client, destination=destination, amount="500.00", code=code_now(alice_totp), key="a").status_code == 201
    verify_kyc(operator)
    with_kyc = post(client, destination=destination, amount="500.01", code="bad", key="b")
    # Every rule passed, so only the (deliberately wrong) code refuses it now.
    assert refusal(with_kyc)[:2] == (400, "mfa_code_invalid")


def test_it_refuses_a_wrong_or_missing_totp_code(operator, alice_key, alice_totp, destination):
    client = client_for(alice_key)
    wrong = refusal(post(client, destination=destination, amount="25", code="123456", key="a"))
    missing = refusal(post(client, destination=destination, amount="25", code="", key="b"))

    assert wrong == (
        400,
        "mfa_code_invalid",
        "That authenticator code is wrong or was already used: enter the current code",
    )
    assert missing == (400, "mfa_code_required", "Enter the 6-digit code from your authenticator app")
    assert not Payout.objects.exists()


def test_it_refuses_a_totp_code_used_twice(operator, alice_key, alice_totp, destination):
    client = client_for(alice_key)
    code = code_now(alice_totp)
    assert post(client, destination=destination, amount="10", code=code, key="a").status_code == 201
    replayed_code = refusal(post(client, destination=destination, amount="10", code=code, key="b"))

    assert replayed_code[:2] == (400, "mfa_code_invalid")
    assert Payout.objects.count() == 1


def test_it_requires_an_authenticator_app(operator, alice_key, destination):
    status, code, detail = refusal(post(client_for(alice_key), destination=destination, amount="25", code="123456"))

    assert (status, code) == (403, "mfa_required")
    assert "authenticator app" in detail


def test_it_refuses_a_destination_added_less_than_24_hours_ago(operator, alice, alice_key, alice_totp):
    fresh = destination_create(
        account=operator,
        user=alice,
        kind="usdc_wallet",
        network="base",
        address=OTHER_WALLET,
        now=timezone.now() - timedelta(hours=23),
    )
    status, code, detail = refusal(
        post(client_for(alice_key), destination=fresh, amount="25", code=code_now(alice_totp))
    )

    assert (status, code) == (400, "destination_locked")
    assert detail.startswith("This destination was added or changed less than 24 hours ago")


def test_it_refuses_amounts_that_are_not_whole_cents_or_not_numbers(operator, alice_key, alice_totp, destination):
    client = client_for(alice_key)
    cents = refusal(post(client, destination=destination, amount="10.001", code=code_now(alice_totp), key="a"))
    garbage = post(client, destination=destination, amount="ten", code=code_now(alice_totp), key="b")

    assert cents == (400, "invalid_amount", "Payouts are in whole cents")
    assert garbage.status_code == 400
    assert garbage.json() == {"amount": ["Amount must be a number, got 'ten'"]}


def test_it_refuses_members_who_are_not_owners_or_admins(operator, bob, destination):
    from accounts.services import api_key_create

    key, secret = api_key_create(account=operator, name="bob's key", created_by=bob)
    key.secret = secret
    secret_bob = totp_for(bob)
    status, code, _ = refusal(post(client_for(key), destination=destination, amount="25", code=code_now(secret_bob)))

    assert (status, code) == (403, "not_allowed")


def test_it_refuses_buyer_only_accounts(alice_account, alice_key, alice_totp, charlie_operator, charlie):
    foreign = unlocked_destination(charlie_operator, charlie)
    # Alice's account is not an operator; Charlie's destination is not hers either: a 404 first.
    response = post(client_for(alice_key), destination=foreign, amount="25", code=code_now(alice_totp))
    assert response.status_code == 404


def test_it_hides_another_tenants_payouts(operator, alice_key, alice_totp, destination, charlie_key, charlie_operator):
    created = post(client_for(alice_key), destination=destination, amount="25", code=code_now(alice_totp)).json()
    charlie = client_for(charlie_key)

    assert charlie.get(f"/api/payouts/{created['code']}").status_code == 404
    assert charlie.get("/api/payouts").json()["results"] == []
    assert str(destination.code) not in charlie.get("/api/payouts/destinations").content.decode()
    foreign = post(charlie, destination=destination, amount="25", code="000000")
    assert foreign.status_code == 404
    assert client_for(alice_key).get(f"/api/payouts/{created['code']}").json()["code"] == created["code"]


def test_it_lists_destinations_with_when_they_unlock(operator, alice_key, destination):
    rows = client_for(alice_key).get("/api/payouts/destinations").json()

    assert [r["code"] for r in rows] == [str(destination.code)]
    assert rows[0]["address"] == destination.address
    assert rows[0]["usable_from"]


def test_it_needs_authentication():
    assert APIClient().get("/api/payouts").status_code in (401, 403)
