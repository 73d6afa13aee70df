"""The database itself keeps the ledger honest, whatever the Python code does."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError

from billing.models import Entry, Transaction
from billing.selectors import buyer_ledger_account
from billing.services import system_ledger_account_id, transaction_post
from conftest import fund

pytestmark = pytest.mark.django_db(transaction=True)  # deferred triggers fire only at commit


def _raw_transaction(cursor, key):
    cursor.execute(
        "INSERT INTO billing_transaction (kind, idempotency_key, memo, reference, created_at) "
        "VALUES ('adjustment', %s, '', '', now()) RETURNING id",
        [key],
    )
    return cursor.fetchone()[0]


def test_it_refuses_an_unbalanced_transaction_inserted_with_raw_sql(alice_account):
    buyer = buyer_ledger_account(account=alice_account).id
    other = system_ledger_account_id("adjustments")
    with pytest.raises(IntegrityError, match="does not balance"):
        with transaction.atomic(), connection.cursor() as cursor:
            txn = _raw_transaction(cursor, "raw:unbalanced")
            cursor.execute(
                "INSERT INTO billing_entry (transaction_id, ledger_account_id, amount_nanos) VALUES (%s, %s, %s), (%s, %s, %s)",
                [txn, buyer, 100, txn, other, -99],
            )
    assert not Transaction.objects.filter(idempotency_key="raw:unbalanced").exists()
    assert Entry.objects.count() == 0


def test_it_refuses_a_transaction_with_no_entries(alice_account):
    with pytest.raises(IntegrityError, match="at least two"):
        with transaction.atomic(), connection.cursor() as cursor:
            _raw_transaction(cursor, "raw:empty")
    assert not Transaction.objects.filter(idempotency_key="raw:empty").exists()


def test_it_accepts_a_balanced_transaction_inserted_leg_by_leg(alice_account):
    buyer = buyer_ledger_account(account=alice_account).id
    other = system_ledger_account_id("adjustments")
    with transaction.atomic(), connection.cursor() as cursor:
        txn = _raw_transaction(cursor, "raw:balanced")
        cursor.execute(
            "INSERT INTO billing_entry (transaction_id, ledger_account_id, amount_nanos) VALUES (%s, %s, 5)",
            [txn, buyer],
        )
        cursor.execute(
            "INSERT INTO billing_entry (transaction_id, ledger_account_id, amount_nanos) VALUES (%s, %s, -5)",
            [txn, other],
        )
    assert Entry.objects.filter(transaction__idempotency_key="raw:balanced").count() == 2


def test_an_entry_cannot_be_updated_or_deleted(alice_account):
    fund(alice_account, 1_000, key="fund:1")
    entry = Entry.objects.first()
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            Entry.objects.filter(id=entry.id).update(amount_nanos=2_000)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            Entry.objects.filter(id=entry.id).delete()
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM billing_transaction")
    entry.refresh_from_db()
    assert entry.amount_nanos in (1_000, -1_000)


def test_zero_amount_entries_are_refused_by_a_check_constraint(alice_account):
    buyer = buyer_ledger_account(account=alice_account).id
    with pytest.raises(IntegrityError):
        with transaction.atomic(), connection.cursor() as cursor:
            txn = _raw_transaction(cursor, "raw:zero")
            cursor.execute(
                "INSERT INTO billing_entry (transaction_id, ledger_account_id, amount_nanos) VALUES (%s, %s, 0)",
                [txn, buyer],
            )


def test_a_service_posting_passes_the_triggers(alice_account):
    buyer = buyer_ledger_account(account=alice_account).id
    result = transaction_post(
        idempotency_key="svc:1",
        kind="adjustment",
        legs=[(buyer, 7), (system_ledger_account_id("adjustments"), -7)],
    )
    assert Transaction.objects.get(id=result.transaction_id).entries.count() == 2
