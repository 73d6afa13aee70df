"""infer.bounded_cache: the per-process caches keyed by tenant stay under their ceiling."""

import threading

import pytest

from billing import services as billing_services
from infer.bounded_cache import BoundedCache
from usage import services as usage_services


def test_it_forgets_the_least_recently_used_entry_when_full():
    cache = BoundedCache(3)
    for key in "abc":
        cache[key] = key.upper()
    assert cache.get("a") == "A"  # "a" is now the most recently used
    cache["d"] = "D"
    assert "b" not in cache
    assert [cache.get(k) for k in "acd"] == ["A", "C", "D"]
    assert len(cache) == 3


def test_it_keeps_false_and_zero_apart_from_missing():
    cache = BoundedCache(2)
    cache["deferred"] = False
    assert cache.get("deferred") is False
    assert cache.get("missing") is None


def test_it_stays_bounded_under_concurrent_writers():
    cache = BoundedCache(100)

    def write(offset):
        for i in range(5_000):
            cache[offset + i] = i
            cache.get(offset + i // 2)

    threads = [threading.Thread(target=write, args=(n * 10_000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 100


def test_it_refuses_a_ceiling_below_one():
    with pytest.raises(ValueError):
        BoundedCache(0)


def test_the_caches_keyed_by_tenant_are_bounded():
    assert isinstance(usage_services._buyer_ledger_ids, BoundedCache)
    assert isinstance(billing_services._deferred_cache, BoundedCache)
    assert usage_services._buyer_ledger_ids.max_entries <= 100_000
    assert billing_services._deferred_cache.max_entries <= 100_000
