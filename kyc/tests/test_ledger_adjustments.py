"""Finance adjusts a balance through an admin action: a reason is required, the ledger stays balanced."""

import pytest
from django.core.exceptions import PermissionDenied

from billing.checks import ledger_check
from billing.models import Entry, Transaction
from billing.selectors import buyer_ledger_account
from billing.services import ledger_rollup, system_ledger_account_id
from kyc import services
from kyc.models import LedgerAdjustment, StaffAction


@pytest.fixture
def finance_client(client, finance):
    client.force_login(finance)
    return client


def _adjust(client, ledger, **data):
    return client.post(
        "/admin/billing/ledgeraccount/", {"action": "adjust_balance", "_selected_action": [ledger.pk], **data}
    )


def test_it_asks_for_an_amount_and_a_reason(finance_client, funded):
    ledger = buyer_ledger_account(account=funded)
    page = _adjust(finance_client, ledger)
    assert page.status_code == 200
    assert b"Amount (USD)" in page.content and b"Reason" in page.content


def test_it_posts_a_balanced_adjustment_and_records_it(finance_client, finance, funded):
    ledger = buyer_ledger_account(account=funded)
    response = _adjust(finance_client, ledger, amount="12.50", reason="Refund for a failed batch (ticket 4411)")
    assert response.status_code == 302
    adjustment = LedgerAdjustment.objects.get()
    txn = adjustment.transaction
    assert txn.kind == Transaction.Kind.ADJUSTMENT
    assert txn.idempotency_key == f"adjustment:{adjustment.code}"
    assert txn.memo == "Refund for a failed batch (ticket 4411)"
    legs = sorted(Entry.objects.filter(transaction=txn).values_list("ledger_account_id", "amount_nanos"))
    assert legs == sorted([(ledger.id, 12_500_000_000), (system_ledger_account_id("adjustments"), -12_500_000_000)])
    ledger.refresh_from_db()
    assert ledger.balance_nanos == 22_500_000_000
    assert adjustment.created_by == finance
    record = StaffAction.objects.get(action="ledger_adjusted")
    assert (record.actor, record.reason) == (finance, "Refund for a failed batch (ticket 4411)")
    ledger_rollup()
    assert ledger_check().ok


def test_it_debits_with_a_negative_amount(finance_client, funded):
    ledger = buyer_ledger_account(account=funded)
    _adjust(finance_client, ledger, amount="-3", reason="Duplicate credit reversed")
    ledger.refresh_from_db()
    assert ledger.balance_nanos == 7_000_000_000
    ledger_rollup()
    assert ledger_check().ok


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        ("5", "", b"This field is required"),
        ("0", "zero", b"The amount cannot be zero"),
        ("1.0000000001", "too fine", b"finer than INFER can charge"),
        ("ten", "words", b"Amount must be a number"),
    ],
)
def test_it_refuses_bad_input_and_posts_nothing(finance_client, funded, amount, reason, message):
    ledger = buyer_ledger_account(account=funded)
    before = Transaction.objects.count()
    response = _adjust(finance_client, ledger, amount=amount, reason=reason)
    assert response.status_code == 200
    assert message in response.content
    assert Transaction.objects.count() == before
    assert not LedgerAdjustment.objects.exists()


def test_it_adjusts_one_account_at_a_time(finance_client, funded, charlie_account):
    ledgers = [buyer_ledger_account(account=funded), buyer_ledger_account(account=charlie_account)]
    response = finance_client.post(
        "/admin/billing/ledgeraccount/",
        {"action": "adjust_balance", "_selected_action": [lg.pk for lg in ledgers], "amount": "1", "reason": "x"},
        follow=True,
    )
    assert b"Select exactly one ledger account" in response.content
    assert not LedgerAdjustment.objects.exists()


def test_it_refuses_support_and_operators_at_the_service(support, alice, funded):
    ledger = buyer_ledger_account(account=funded)
    for user in (support, alice):
        with pytest.raises(PermissionDenied):
            services.ledger_adjustment_post(ledger_account=ledger, amount_nanos=1, reason="nope", actor=user)
    ledger.refresh_from_db()
    assert ledger.balance_nanos == 10_000_000_000
