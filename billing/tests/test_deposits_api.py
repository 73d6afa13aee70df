"""GET /api/deposits and /api/deposits/<id>: the Account's deposits, newest first, cursor pagination."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.card_services import card_checkout_completed
from billing.models import CardPayment
from billing.tests import stripe_fakes as fakes
from billing.tests.conftest import checkout

pytestmark = pytest.mark.django_db

USD = 1_000_000_000


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}


def test_it_lists_card_deposits_with_their_status(client, alice_key, alice_account, stripe_on):
    pending = checkout(alice_account, 25 * USD)
    paid = checkout(alice_account, 10 * USD)
    session = fakes.paid_session(stripe_on.sessions[paid.checkout_session_id])
    card_checkout_completed(session=session)

    response = client.get("/api/deposits", **auth(alice_key))

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert [d["id"] for d in body["results"]] == [str(paid.code), str(pending.code)]
    credited = body["results"][0]
    assert credited["method"] == "card"
    assert credited["network"] is None
    assert credited["amount"] == "10.000000000"
    assert credited["amount_nanos"] == 10 * USD
    assert credited["status"] == "credited"
    assert credited["reference"] == session["payment_intent"]
    assert credited["credited_at"] is not None
    assert body["results"][1]["status"] == "pending"
    assert body["results"][1]["credited_at"] is None


def test_it_pages_with_a_cursor(client, alice_key, alice_account, stripe_on):
    now = timezone.now()
    codes = []
    for i in range(5):
        payment = checkout(alice_account, (5 + i) * USD)
        # Two share a timestamp: the id breaks the tie, so no row is skipped or repeated.
        CardPayment.objects.filter(id=payment.id).update(created_at=now - timedelta(minutes=min(i, 3)))
        codes.append(str(payment.code))

    seen = []
    url = "/api/deposits?limit=2"
    pages = 0
    while url:
        body = client.get(url, **auth(alice_key)).json()
        seen += [d["id"] for d in body["results"]]
        url = body["next"]
        pages += 1
    assert pages == 3
    # Newest first; the last two share a timestamp and the page break falls between them.
    assert seen == [*codes[:3], codes[4], codes[3]]


def test_it_refuses_a_bad_cursor_or_limit(client, alice_key):
    response = client.get("/api/deposits?cursor=not-a-cursor", **auth(alice_key))
    assert response.status_code == 400
    assert "cursor" in response.json()
    assert client.get("/api/deposits?limit=0", **auth(alice_key)).status_code == 400
    assert client.get("/api/deposits?limit=1000", **auth(alice_key)).status_code == 400


def test_it_shows_one_deposit(client, alice_key, alice_account, stripe_on):
    payment = checkout(alice_account, 25 * USD)
    response = client.get(f"/api/deposits/{payment.code}", **auth(alice_key))
    assert response.status_code == 200
    assert response.json()["amount_nanos"] == 25 * USD


def test_another_tenants_deposit_is_a_404_and_not_listed(client, alice_key, charlie_key, charlie_account, stripe_on):
    theirs = checkout(charlie_account, 25 * USD)
    assert client.get(f"/api/deposits/{theirs.code}", **auth(alice_key)).status_code == 404
    assert client.get("/api/deposits", **auth(alice_key)).json()["results"] == []
    assert client.get(f"/api/deposits/{theirs.code}", **auth(charlie_key)).status_code == 200


def test_an_unknown_id_is_a_404(client, alice_key):
    assert client.get("/api/deposits/nope", **auth(alice_key)).status_code == 404
    assert client.get("/api/deposits/6f1d2c3b-4a59-4e8f-9b7a-0c1d2e3f4a5b", **auth(alice_key)).status_code == 404


def test_it_works_for_a_signed_in_member(client, bob, alice_account, stripe_on):
    payment = checkout(alice_account, 25 * USD)
    client.force_login(bob)
    assert [d["id"] for d in client.get("/api/deposits").json()["results"]] == [str(payment.code)]


def test_it_needs_credentials(client):
    assert client.get("/api/deposits").status_code in (401, 403)


def test_it_merges_deposit_sources_without_skipping_or_repeating(
    client, alice_key, alice_account, stripe_on, monkeypatch
):
    """Two methods with equal timestamps across page breaks: the (created_at, method, id) cursor holds."""
    from dataclasses import replace

    from billing import selectors

    card = selectors.DEPOSIT_SOURCES[0]
    # A second source over the same table stands in for USDC deposits: small amounts are "usdc".
    monkeypatch.setattr(
        selectors,
        "DEPOSIT_SOURCES",
        [
            replace(card, queryset=lambda account: card.queryset(account).filter(amount_nanos__gte=10 * USD)),
            replace(
                card,
                method="usdc",
                queryset=lambda account: card.queryset(account).filter(amount_nanos__lt=10 * USD),
                row=lambda obj: replace(card.row(obj), method="usdc", network="base"),
            ),
        ],
    )
    now = timezone.now()
    expected = []
    for i in range(7):
        payment = checkout(alice_account, (5 + 3 * (i % 2)) * USD if i % 3 else 20 * USD)
        created = now - timedelta(minutes=i // 3)
        CardPayment.objects.filter(id=payment.id).update(created_at=created)
        method = "card" if payment.amount_nanos >= 10 * USD else "usdc"
        expected.append((created, method, payment.id, str(payment.code)))
    expected.sort(reverse=True)

    seen, url = [], "/api/deposits?limit=2"
    while url:
        body = client.get(url, **auth(alice_key)).json()
        seen += [(d["id"], d["method"]) for d in body["results"]]
        url = body["next"]
    assert seen == [(code, method) for _, method, _, code in expected]
