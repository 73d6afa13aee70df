"""The finance queue in the admin: filtered by status, bulk approve, reject with a reason, mark paid with a reference."""

import pytest

from billing.selectors import operator_ledger_account
from payouts import services
from payouts.models import Payout

from .conftest import USD, assert_ledger_ok, code_now, unlocked_destination

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/payouts/payout/"


@pytest.fixture
def payouts(operator, alice, alice_totp):
    """Two requested payouts to a bank account finance pays by hand."""
    import time_machine
    from django.utils import timezone

    bank = unlocked_destination(
        operator,
        alice,
        kind="manual_bank",
        bank_holder_name="Alice Example",
        bank_iban="DE89370400440532013000",
        bank_bic="COBADEFFXXX",
    )
    made = []
    for index in range(2):
        # Each request needs its own TOTP code: one 30-second window each.
        with time_machine.travel(timezone.now() + timezone.timedelta(seconds=31 * index), tick=True):
            payout, _ = services.payout_request(
                account=operator,
                user=alice,
                destination=bank,
                amount_nanos=(20 + index) * USD,
                totp_code=code_now(alice_totp),
                idempotency_key=f"k{index}",
            )
        made.append(payout)
    return made


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client


def action(client, name, payouts, **extra):
    return client.post(CHANGELIST, {"action": name, "_selected_action": [p.id for p in payouts], **extra}, follow=True)


def test_it_lists_the_queue_by_status(finance_client, payouts):
    page = finance_client.get(CHANGELIST, {"status__exact": "requested"})

    assert page.status_code == 200
    assert str(payouts[0].code) in page.content.decode()
    assert "$21.00" in page.content.decode()


def test_it_approves_in_bulk(finance_client, payouts, finance_user):
    response = action(finance_client, "approve", payouts)

    assert "Approved 2 payout(s)." in response.content.decode()
    assert set(Payout.objects.values_list("status", "approved_by")) == {("approved", finance_user.id)}


def test_it_asks_for_a_reason_then_rejects(finance_client, payouts, operator):
    form = action(finance_client, "reject", payouts)
    assert "Reason" in form.content.decode()
    assert Payout.objects.filter(status="requested").count() == 2

    done = action(finance_client, "reject", payouts, apply="1", text="Details do not match the verified identity")

    assert "Reject payouts: 2 payout(s)." in done.content.decode()
    assert set(Payout.objects.values_list("status", "reason")) == {
        ("rejected", "Details do not match the verified identity")
    }
    assert operator_ledger_account(account=operator).held_nanos == 0
    assert_ledger_ok()


def test_it_marks_bank_payouts_paid_with_a_reference(finance_client, payouts):
    action(finance_client, "approve", payouts)
    action(finance_client, "mark_paid", payouts, apply="1", text="SEPA batch 2026-11-27")

    assert set(Payout.objects.values_list("status", "external_reference")) == {("paid", "SEPA batch 2026-11-27")}
    assert_ledger_ok()


def test_it_refuses_staff_without_the_finance_role(client, payouts, django_user_model):
    clerk = django_user_model.objects.create_user(email="clerk@infer.local", password="x", is_staff=True)
    client.force_login(clerk)

    assert client.get(CHANGELIST).status_code == 403
    client.post(CHANGELIST, {"action": "approve", "_selected_action": [p.id for p in payouts]})
    assert set(Payout.objects.values_list("status", flat=True)) == {"requested"}
