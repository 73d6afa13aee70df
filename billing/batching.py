"""Group commit: many concurrent settlements share one database transaction, each still exact.

One commit per request caps a 2-core machine at roughly a thousand settlements a second (DESIGN.md,
"The ledger"). A `GroupCommitter` owns one thread and one database connection; callers `submit` an
item and wait on its future. While a batch is being written, newly submitted items queue up and go
together in the next batch, so at low load a batch is one item with no added wait, and under load
batches grow on their own. Each item keeps its own idempotency key and result; a batch that fails
as a whole (a lost race on a key, a deadlock, the database going away) is retried or failed as a
whole, never half-written.

A batch whose connection was lost (the database restarted or failed over) has an unknown outcome: its
COMMIT may have landed before the connection died. It is run again on a new connection until the
database answers, for up to `reconnect_seconds` of outage: a batch that had committed replays under
its idempotency keys, so either way each item's result is the stored one. Only when the database
stays away longer do its items fail.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from django.db import InterfaceError, OperationalError, close_old_connections, connection

from .services import with_ledger_retry

log = logging.getLogger(__name__)

_STOP = object()


class GroupCommitter:
    """Runs `apply_batch(items) -> results` (one atomic block) on batches of submitted items."""

    def __init__(
        self,
        apply_batch: Callable[[Sequence], Sequence],
        *,
        max_batch: int = 200,
        name: str = "ledger",
        reconnect_seconds: float = 10.0,
    ):
        self.apply_batch = apply_batch
        self.max_batch = max_batch
        self.reconnect_seconds = reconnect_seconds
        self._down_since: float | None = None  # when the database was last found gone (None: it answers)
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
                    results = self._apply(items)
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

    def _apply(self, items):
        """One batch, run again on a new connection while the database is away (up to reconnect_seconds)."""
        while True:
            try:
                close_old_connections()
                results = with_ledger_retry(lambda: self.apply_batch(items))
            except (OperationalError, InterfaceError) as exc:
                if not connection_lost(exc):
                    raise
                connection.close()
                now = time.monotonic()
                self._down_since = self._down_since or now
                if now - self._down_since >= self.reconnect_seconds:
                    raise
                log.warning("group commit: the database connection was lost (%s); running the batch again", exc)
                time.sleep(0.1)
                continue
            self._down_since = None
            return results


def connection_lost(exc: Exception) -> bool:
    """Whether a database error means the connection is gone (server restarting, crashed, unreachable),
    rather than a statement that failed on a live connection."""
    if isinstance(exc, InterfaceError):
        return True  # Django's "connection already closed"
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    # No SQLSTATE: the socket closed or the connection attempt failed; 08: connection exception;
    # 57P01-57P03: admin shutdown, crash shutdown, cannot connect now (starting up or shutting down).
    return sqlstate is None or sqlstate.startswith(("08", "57P"))
