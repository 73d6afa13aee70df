"""Group commit: many concurrent settlements share one database transaction, each still exact.

One commit per request caps a 2-core machine at roughly a thousand settlements a second (DESIGN.md,
"The ledger"). A `GroupCommitter` owns one thread and one database connection; callers `submit` an
item and wait on its future. While a batch is being written, newly submitted items queue up and go
together in the next batch, so at low load a batch is one item with no added wait, and under load
batches grow on their own. Each item keeps its own idempotency key and result; a batch that fails
as a whole (a lost race on a key, a deadlock, the database going away) is retried or failed as a
whole, never half-written.
"""

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from django.db import close_old_connections, connection

from .services import with_ledger_retry

log = logging.getLogger(__name__)

_STOP = object()


class GroupCommitter:
    """Runs `apply_batch(items) -> results` (one atomic block) on batches of submitted items."""

    def __init__(self, apply_batch: Callable[[Sequence], Sequence], *, max_batch: int = 200, name: str = "ledger"):
        self.apply_batch = apply_batch
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"group-commit-{name}", daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self.batches = 0
        self.items = 0

    def start(self):
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True
        return self

    def submit(self, item) -> Future:
        if not self._started:
            self.start()
        future: Future = Future()
        self._queue.put((item, future))
        return future

    def stop(self, timeout: float = 10.0) -> None:
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _take_batch(self):
        first = self._queue.get()
        if first is _STOP:
            return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)
                break
            batch.append(item)
        return batch

    def _run(self):
        try:
            while True:
                batch = self._take_batch()
                if batch is None:
                    return
                items = [item for item, _ in batch]
                try:
                    close_old_connections()
                    results = with_ledger_retry(lambda items=items: self.apply_batch(items))
                except Exception as exc:
                    log.exception("group commit of %d items failed", len(items))
                    # A broken connection must not poison the next batch.
                    connection.close()
                    for _, future in batch:
                        future.set_exception(exc)
                    continue
                self.batches += 1
                self.items += len(items)
                for (_, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
        finally:
            connection.close()
