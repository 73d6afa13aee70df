"""Dispatch a scan to the scanner of a network's kind (EVM or Solana), one scan per network at a time."""

import logging

from django.conf import settings
from django.core.cache import cache

from . import evm, hd, solana

log = logging.getLogger(__name__)


def chain_scan(*, network: str):
    """Run one scan; skipped (None) while another scan of the same network still runs.

    Overlapping scans would be harmless (every step is idempotent) but would race on the same rows
    and waste RPC calls, so beat ticks that arrive during a long scan are dropped.
    """
    if network not in settings.CHAIN_NETWORKS:
        raise ValueError(f"Unknown network {network!r}")
    lock = f"chain-scan-lock:{network}"
    # The lock expires on its own if a worker dies mid-scan.
    if not cache.add(lock, "1", timeout=max(60, settings.CHAIN_SCAN_INTERVAL_SECONDS * 10)):
        log.info("chain scan %s skipped: the previous one is still running", network)
        return None
    try:
        if network in hd.EVM_NETWORKS:
            return evm.evm_scan(network)
        return solana.solana_scan()
    finally:
        cache.delete(lock)
