"""The beat schedule scans every network; a network without an RPC URL is skipped."""

from django.conf import settings

from billing import tasks


def test_it_schedules_a_scan_per_network():
    entries = {k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items() if v["task"] == "billing.tasks.chain_scan"}

    assert sorted(e["args"][0] for e in entries.values()) == ["base", "ethereum", "solana"]
    assert all(e["schedule"] == float(settings.CHAIN_SCAN_INTERVAL_SECONDS) for e in entries.values())


def test_it_skips_networks_without_an_rpc_url(db, settings):
    settings.CHAIN_BASE_RPC_URL = ""
    settings.CHAIN_SOLANA_RPC_URL = ""

    assert tasks.chain_scan.delay("base").get() is None
    assert tasks.chain_scan.delay("solana").get() is None


def test_it_derives_an_accounts_addresses_in_the_worker(alice_account):
    addresses = tasks.deposit_addresses_ensure.delay(alice_account.id).get()

    assert len(addresses) == 3


def test_it_skips_a_scan_while_the_previous_one_of_that_network_runs(db, settings):
    from django.core.cache import cache

    settings.CHAIN_ETHEREUM_RPC_URL = "http://127.0.0.1:9/never-called"
    cache.add("chain-scan-lock:ethereum", "1", timeout=60)
    try:
        assert tasks.chain_scan.delay("ethereum").get() is None
    finally:
        cache.delete("chain-scan-lock:ethereum")
