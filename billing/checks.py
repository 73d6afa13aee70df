"""Ledger invariants checked over the whole database (`check_ledger` and its periodic task)."""

from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone


@dataclass
class LedgerReport:
    problems: list[str] = field(default_factory=list)
    transactions: int = 0
    entries: int = 0
    accounts: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


QUERIES = {
    "unbalanced": """
        SELECT transaction_id, SUM(amount_nanos) FROM billing_entry
        GROUP BY transaction_id HAVING SUM(amount_nanos) <> 0 ORDER BY transaction_id LIMIT 20""",
    "too_few_legs": """
        SELECT t.id, COUNT(e.id) FROM billing_transaction t LEFT JOIN billing_entry e ON e.transaction_id = t.id
        GROUP BY t.id HAVING COUNT(e.id) < 2 ORDER BY t.id LIMIT 20""",
    "total": "SELECT COALESCE(SUM(amount_nanos), 0), COUNT(*) FROM billing_entry",
    "balances": """
        SELECT a.id, a.key, a.is_deferred, a.balance_nanos,
               COALESCE(e.total, 0), COALESCE(d.total, 0)
        FROM billing_ledgeraccount a
        LEFT JOIN (SELECT ledger_account_id, SUM(amount_nanos) AS total FROM billing_entry
                   GROUP BY ledger_account_id) e ON e.ledger_account_id = a.id
        LEFT JOIN (SELECT ledger_account_id, SUM(amount_nanos) AS total FROM billing_balancedelta
                   GROUP BY ledger_account_id) d ON d.ledger_account_id = a.id
        ORDER BY a.id""",
    "holds": """
        SELECT a.id, a.key, a.held_nanos, a.in_flight, COALESCE(h.total, 0), COALESCE(h.requests, 0)
        FROM billing_ledgeraccount a
        LEFT JOIN (SELECT ledger_account_id, SUM(amount_nanos) AS total,
                          SUM(CASE WHEN kind = 'request' THEN 1 ELSE 0 END) AS requests
                   FROM billing_hold WHERE released_at IS NULL GROUP BY ledger_account_id) h
               ON h.ledger_account_id = a.id
        WHERE a.held_nanos <> COALESCE(h.total, 0) OR a.in_flight <> COALESCE(h.requests, 0)
        ORDER BY a.id LIMIT 20""",
    "stale_holds": """
        SELECT id, key, expires_at FROM billing_hold
        WHERE released_at IS NULL AND expires_at < %s ORDER BY id LIMIT 20""",
}


def ledger_check(*, now=None, stale_grace_seconds: int = 120) -> LedgerReport:
    """Verify every invariant: each transaction sums to zero with two legs or more, all entries sum to
    zero, every cached balance equals the sum of its entries (plus pending deltas for deferred
    accounts), cached holds match open holds, and no hold outlived its timeout."""
    report = LedgerReport()
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(QUERIES["unbalanced"])
        for txn_id, total in cursor.fetchall():
            report.problems.append(f"transaction {txn_id} does not balance: entries sum to {total} nanos")
        cursor.execute(QUERIES["too_few_legs"])
        for txn_id, legs in cursor.fetchall():
            report.problems.append(f"transaction {txn_id} has {legs} entries (needs at least 2)")
        cursor.execute(QUERIES["total"])
        total, report.entries = cursor.fetchone()
        if total != 0:
            report.problems.append(f"all entries sum to {total} nanos, not 0")
        cursor.execute("SELECT COUNT(*) FROM billing_transaction")
        report.transactions = cursor.fetchone()[0]
        cursor.execute(QUERIES["balances"])
        rows = cursor.fetchall()
        report.accounts = len(rows)
        for _id, key, deferred, cached, entries, pending in rows:
            if cached + pending != entries:
                how = f"cached {cached} + pending deltas {pending}" if deferred else f"cached {cached}"
                report.problems.append(f"ledger account {key}: {how} ≠ sum of entries {entries}")
        cursor.execute(QUERIES["holds"])
        for _id, key, held, in_flight, open_total, open_requests in cursor.fetchall():
            report.problems.append(
                f"ledger account {key}: held {held} / in flight {in_flight} ≠ open holds {open_total} / {open_requests}"
            )
        cursor.execute(QUERIES["stale_holds"], [now - timezone.timedelta(seconds=stale_grace_seconds)])
        for hold_id, key, expires_at in cursor.fetchall():
            report.problems.append(f"hold {hold_id} ({key}) is open past its expiry {expires_at.isoformat()}")
    return report
