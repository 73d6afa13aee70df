"""The ledger under concurrency: no lost update, no double posting, no deadlock."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.services import account_create
from billing.checks import ledger_check
from billing.models import Entry, LedgerAccount, Transaction
from billing.money import revenue_split
from billing.selectors import buyer_ledger_account, ledger_account_balance, operator_ledger_account
from billing.services import ledger_rollup, system_ledger_account_id, transaction_post
from conftest import fund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ledger_writer")]


def _in_thread(fn):
    def run(*args):
        try:
            return fn(*args)
        finally:
            connection.close()

    return run


@pytest.fixture
def operator_account(charlie):
    return account_create(name="Operator", owner=charlie, is_buyer=False, is_operator=True)


def test_one_key_posted_from_20_threads_gives_one_transaction(alice_account):
    buyer = buyer_ledger_account(account=alice_account).id
    other = system_ledger_account_id("adjustments")

    @_in_thread
    def post(_):
        return transaction_post(idempotency_key="same-key", kind="adjustment", legs=[(buyer, 700), (other, -700)])

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(post, range(20)))
    assert len({r.transaction_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert Transaction.objects.count() == 1 and Entry.objects.count() == 2
    assert LedgerAccount.objects.get(id=buyer).balance_nanos == 700
    assert ledger_check().ok


def test_50_threads_of_20_debits_on_one_buyer_leave_the_exact_balance(alice_account, operator_account):
    fund(alice_account, 1_000_000_000, key="start")
    buyer = buyer_ledger_account(account=alice_account).id
    operator = operator_ledger_account(account=operator_account).id
    platform = system_ledger_account_id("platform:revenue")

    def cost_of(thread, i):
        return 1_000 + thread * 37 + i  # deterministic, all different

    @_in_thread
    def debit(thread):
        for i in range(20):
            cost = cost_of(thread, i)
            op, pf = revenue_split(cost)
            transaction_post(
                idempotency_key=f"usage:{thread}:{i}",
                kind="usage",
                legs=[(buyer, -cost), (operator, op), (platform, pf)],
            )

    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(debit, range(50)))

    total = sum(cost_of(t, i) for t in range(50) for i in range(20))
    operator_total = sum(revenue_split(cost_of(t, i))[0] for t in range(50) for i in range(20))
    assert LedgerAccount.objects.get(id=buyer).balance_nanos == 1_000_000_000 - total
    assert Transaction.objects.filter(kind="usage").count() == 1_000
    assert ledger_account_balance(LedgerAccount.objects.get(id=operator)) == operator_total
    assert ledger_check().ok
    ledger_rollup()
    assert LedgerAccount.objects.get(id=operator).balance_nanos == operator_total
    assert LedgerAccount.objects.get(id=platform).balance_nanos == total - operator_total
    assert ledger_check().ok
