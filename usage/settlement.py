"""Group commit: one thread per gateway process settles finished requests in batches, one commit each.

One settlement per database transaction tops out near 1,000/s on this kind of machine (DESIGN.md);
the commit is the cost, not the rows. Requests hand their Settlement to this thread and wait; while a
batch commits, the next one gathers, so the batch size grows with the load by itself and an idle
gateway commits a single request at once. Each batch is all-or-nothing (usage_settle_batch) and
retried on a lost race (with_ledger_retry); when a batch fails for good, its items are retried one by
one so one bad request cannot fail its neighbours. Idempotency keys (`usage:<request id>`) make a
retry after an unknown outcome safe.
"""

import logging
import queue
import threading
from concurrent.futures import Future

from django.conf import settings
from django.db import connection

from billing.services import with_ledger_retry

from .services import Settlement, usage_settle_batch

log = logging.getLogger(__name__)


class Settler:
    def __init__(self, *, max_batch: int):
        self.max_batch = max_batch
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="usage-settler", daemon=True)
        self.thread.start()
        self.batches = 0
        self.settled = 0

    def submit(self, item: Settlement) -> Future:
        future: Future = Future()
        self.queue.put((item, future))
        return future

    def _run(self):
        while True:
            batch = [self.queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._settle(batch)

    def _settle(self, batch):
        items = [item for item, _ in batch]
        try:
            results = with_ledger_retry(lambda: usage_settle_batch(items=items))
        except Exception:
            log.exception("Settling a batch of %d failed; settling them one by one", len(items))
            self._reset_connection()
            if len(batch) == 1:
                batch[0][1].set_exception(RuntimeError("settlement failed"))
                return
            for pair in batch:
                self._settle([pair])
            return
        self.batches += 1
        self.settled += len(items)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)

    def _reset_connection(self):
        try:
            connection.close()
        except Exception:  # noqa: S110 — a broken connection is replaced on next use either way
            pass


_settler: Settler | None = None
_lock = threading.Lock()


def settler() -> Settler:
    """This process's settler (started on first use)."""
    global _settler
    if _settler is None:
        with _lock:
            if _settler is None:
                _settler = Settler(max_batch=settings.GATEWAY_SETTLE_BATCH_MAX)
    return _settler
