"""Group commit for the gateway: this process's settlements go through billing's GroupCommitter.

One settlement per database transaction tops out near 1,000/s on this kind of machine (DESIGN.md);
the commit is the cost, not the rows. Each request hands its Settlement to the committer's thread and
waits; while a batch commits the next one gathers, so the batch size follows the load and an idle
gateway commits a single request at once. A batch is all-or-nothing (usage_settle_batch: postings,
hold releases and UsageRecords in one transaction) and retried on a lost race (with_ledger_retry);
the idempotency key `usage:<request id>` makes a retry after an unknown outcome safe. A batch that lost
its connection (a database restart) runs again once the database is back, within
GATEWAY_SETTLE_RECONNECT_SECONDS: an answer already delivered is then billed once, never twice.
"""

import threading

from django.conf import settings

from billing.batching import GroupCommitter

from .services import usage_settle_batch

_committer: GroupCommitter | None = None
_lock = threading.Lock()


def settler() -> GroupCommitter:
    """This process's committer of settlements (its thread starts on first use)."""
    global _committer
    if _committer is None:
        with _lock:
            if _committer is None:
                _committer = GroupCommitter(
                    lambda items: usage_settle_batch(items=list(items)),
                    max_batch=settings.GATEWAY_SETTLE_BATCH_MAX,
                    name="usage",
                    reconnect_seconds=settings.GATEWAY_SETTLE_RECONNECT_SECONDS,
                ).start()
    return _committer
