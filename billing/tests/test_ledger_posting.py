"""The posting service: balances, idempotency, conflicts and bad input."""

import pytest
from django.core.management import call_command

from billing.checks import ledger_check
from billing.models import BalanceDelta, Entry, LedgerAccount, Transaction
from billing.selectors import buyer_ledger_account, ledger_account_balance
from billing.services import (
    IdempotencyConflict,
    LedgerError,
    Posting,
    ledger_rollup,
    system_ledger_account_id,
    transaction_post,
    transactions_post,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_writer")]


@pytest.fixture
def legs(alice_account):
    buyer = buyer_ledger_account(account=alice_account).id
    return buyer, system_ledger_account_id("adjustments")


def test_it_posts_and_updates_the_cached_balance(legs):
    buyer, other = legs
    result = transaction_post(idempotency_key="k1", kind="adjustment", legs=[(buyer, 500), (other, -500)])
    assert not result.replayed
    assert LedgerAccount.objects.get(id=buyer).balance_nanos == 500
    # The deferred account gets a delta, rolled up later.
    assert BalanceDelta.objects.get(ledger_account_id=other).amount_nanos == -500
    assert ledger_account_balance(LedgerAccount.objects.get(id=other)) == -500
    ledger_rollup()
    assert LedgerAccount.objects.get(id=other).balance_nanos == -500
    assert not BalanceDelta.objects.exists()
    assert ledger_check().ok


def test_the_same_key_twice_returns_the_first_transaction(legs):
    buyer, other = legs
    first = transaction_post(idempotency_key="k1", kind="adjustment", legs=[(buyer, 500), (other, -500)])
    second = transaction_post(idempotency_key="k1", kind="adjustment", legs=[(other, -500), (buyer, 500)])
    assert second.replayed and second.transaction_id == first.transaction_id
    assert Transaction.objects.count() == 1
    assert LedgerAccount.objects.get(id=buyer).balance_nanos == 500


def test_the_same_key_with_other_amounts_is_an_error(legs):
    buyer, other = legs
    transaction_post(idempotency_key="k1", kind="adjustment", legs=[(buyer, 500), (other, -500)])
    with pytest.raises(IdempotencyConflict):
        transaction_post(idempotency_key="k1", kind="adjustment", legs=[(buyer, 501), (other, -501)])
    with pytest.raises(IdempotencyConflict):
        transaction_post(idempotency_key="k1", kind="card_deposit", legs=[(buyer, 500), (other, -500)])
    assert LedgerAccount.objects.get(id=buyer).balance_nanos == 500


def test_a_batch_reports_conflicts_per_item_and_posts_the_rest(legs):
    buyer, other = legs
    batch = transactions_post(
        [
            Posting("a", "adjustment", ((buyer, 1), (other, -1))),
            Posting("a", "adjustment", ((buyer, 1), (other, -1))),
            Posting("a", "adjustment", ((buyer, 2), (other, -2))),
            Posting("b", "adjustment", ((buyer, 10), (other, -10))),
        ]
    )
    first, replay, conflict, other_result = batch.results
    assert first.transaction_id and replay.replayed and replay.transaction_id == first.transaction_id
    assert isinstance(conflict.error, IdempotencyConflict)
    assert other_result.transaction_id and other_result.error is None
    assert LedgerAccount.objects.get(id=buyer).balance_nanos == 11
    assert batch.balance_changes == {buyer: (0, 11)}


@pytest.mark.parametrize(
    "bad_legs, message",
    [
        ([], "at least two"),
        ([("B", 5), ("O", -5)], "Unknown ledger account"),
        ([("b", 5)], "at least two"),
        ([("b", 5), ("o", -4)], "sum to zero"),
        ([("b", 0), ("o", 0)], "cannot be zero"),
        ([("b", 5.0), ("o", -5.0)], "whole nano-dollars"),
        ([("b", "5"), ("o", "-5")], "whole nano-dollars"),
        ([("b", True), ("o", -1)], "whole nano-dollars"),
        ([("b", 5), ("b", -5)], "once per transaction"),
        ([(999_999, 5), ("o", -5)], "Unknown ledger account 999999"),
    ],
)
def test_bad_input_gets_a_clear_error_and_writes_nothing(legs, bad_legs, message):
    buyer, other = legs
    names = {"b": buyer, "o": other}
    resolved = [(names.get(a, a), amount) for a, amount in bad_legs]
    with pytest.raises(LedgerError, match=message):
        transaction_post(idempotency_key="bad", kind="adjustment", legs=resolved)
    assert not Transaction.objects.exists() and not Entry.objects.exists()
    assert LedgerAccount.objects.get(id=buyer).balance_nanos == 0


@pytest.mark.parametrize("key", ["", "   ", "x" * 201, None])
def test_it_requires_a_sensible_idempotency_key(legs, key):
    buyer, other = legs
    with pytest.raises(LedgerError, match="dempotency key"):
        transaction_post(idempotency_key=key, kind="adjustment", legs=[(buyer, 1), (other, -1)])


def test_it_refuses_an_unknown_kind(legs):
    buyer, other = legs
    with pytest.raises(LedgerError, match="Unknown transaction kind"):
        transaction_post(idempotency_key="k", kind="gift", legs=[(buyer, 1), (other, -1)])


def test_check_ledger_command_passes_and_fails_loudly(legs, capsys):
    buyer, other = legs
    transaction_post(idempotency_key="k1", kind="adjustment", legs=[(buyer, 500), (other, -500)])
    call_command("check_ledger")
    assert "Ledger OK" in capsys.readouterr().out
    # Corrupt the cache behind the service's back: the check must notice and exit non-zero.
    LedgerAccount.objects.filter(id=buyer).update(balance_nanos=499)
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_ledger")
    assert exit_info.value.code == 1
    assert "≠ sum of entries 500" in capsys.readouterr().err
