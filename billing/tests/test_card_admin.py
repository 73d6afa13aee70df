"""Staff see card payments and disputes in the back office, read-only."""

import pytest

from accounts.models import User
from billing.card_services import card_checkout_completed, card_dispute_update

from . import stripe_fakes as fakes
from .conftest import checkout

pytestmark = pytest.mark.django_db


def test_it_lists_card_payments_and_disputes_read_only(client, alice_account, stripe_on):
    payment = checkout(alice_account, 25_000_000_000)
    session = fakes.paid_session(stripe_on.sessions[payment.checkout_session_id])
    card_checkout_completed(session=session)
    card_dispute_update(
        dispute=fakes.dispute(
            dispute_id="dp_test_admin",
            charge_id="ch_x",
            payment_intent=session["payment_intent"],
            amount=2500,
            status="needs_response",
        )
    )
    client.force_login(User.objects.create_superuser(email="staff@example.com", password="x"))

    listing = client.get("/admin/billing/cardpayment/")
    assert listing.status_code == 200
    assert str(payment.code) in listing.content.decode()
    detail = client.get(f"/admin/billing/cardpayment/{payment.id}/change/")
    assert detail.status_code == 200
    assert "dp_test_admin" in detail.content.decode()
    assert client.get("/admin/billing/carddispute/").status_code == 200
    assert client.get("/admin/billing/cardpayment/add/").status_code == 403
