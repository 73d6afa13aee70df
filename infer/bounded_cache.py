"""A per-process cache with a ceiling: forgets its least recently used entries instead of growing with tenants."""

import threading
from collections import OrderedDict


class BoundedCache:
    """A thread-safe mapping of at most `max_entries` entries (least recently used evicted first).

    For facts that never change once known (an account's ledger account id, whether a ledger account is
    deferred): a forgotten entry costs one query to learn again, while a plain dict keyed by account
    would grow with every tenant that ever made a request in this process.
    """

    def __init__(self, max_entries: int):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            try:
                self._data.move_to_end(key)
            except KeyError:
                return default
            return self._data[key]

    def __setitem__(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
