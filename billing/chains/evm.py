"""The EVM scanner (Ethereum, Base): the one module that talks to EVM nodes, through web3.py.

Each run: read the `latest` and `finalized` block numbers; fetch USDC `Transfer` logs to our deposit
addresses with eth_getLogs in bounded ranges from the persisted cursor up to `latest`; record them as
seen; then, for seen deposits at or below `finalized`, compare their block hash with the node's
canonical block at that height (equal: finalized; different: orphaned) and credit. The cursor only
ever moves up to `finalized`, so the unfinalized tail is rescanned every run, and a rescan is a no-op.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from billing.models import ChainCursor, ChainDeposit, DepositAddress

from . import services
from .retry import with_retries

log = logging.getLogger(__name__)

TRANSFER_TOPIC = "0x" + Web3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix("0x")


def web3_for(network: str) -> Web3 | None:
    """A Web3 on the network's RPC URL (CHAIN_<NETWORK>_RPC_URL), or None when it is not configured."""
    url = getattr(settings, f"CHAIN_{network.upper()}_RPC_URL", "")
    if not url:
        return None
    return Web3(HTTPProvider(url, request_kwargs={"timeout": settings.CHAIN_RPC_TIMEOUT_SECONDS}))


def _hex(value) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def _topic_for(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def _address_from_topic(topic) -> str:
    return Web3.to_checksum_address("0x" + _hex(topic)[-40:])


@dataclass
class ScanReport:
    network: str
    from_block: int = 0
    to_block: int = -1
    finalized_block: int = -1
    seen: int = 0
    finalized: int = 0
    orphaned: int = 0
    credited: int = 0


def evm_scan(network: str, *, w3: Web3 | None = None) -> ScanReport | None:
    """One scan of `network`; None when the network has no RPC URL. Raises ChainRpcError if the node
    keeps failing (nothing after the last completed step is lost: the next run redoes it)."""
    w3 = w3 or web3_for(network)
    if w3 is None:
        return None
    call = lambda fn, what: with_retries(fn, what=f"{network} {what}")  # noqa: E731
    token = Web3.to_checksum_address(services.usdc_contract(network))
    latest = call(lambda: w3.eth.block_number, "eth_blockNumber")
    finalized = call(lambda: w3.eth.get_block("finalized")["number"], "eth_getBlockByNumber(finalized)")
    report = ScanReport(network=network, finalized_block=finalized)

    cursor = ChainCursor.objects.filter(network=network).first()
    if cursor is None:
        start = getattr(settings, f"CHAIN_{network.upper()}_START_BLOCK", -1)
        position = finalized if start < 0 else start - 1
        services.chain_cursor_advance(network=network, block_number=position)
    else:
        position = cursor.block_number
    report.from_block = position + 1

    addresses = list(DepositAddress.objects.filter(network=network).values_list("address", flat=True))
    by_lower = {a.lower(): a for a in addresses}
    step = max(1, settings.CHAIN_SCAN_RANGE_BLOCKS)
    chunk = max(1, settings.CHAIN_SCAN_ADDRESSES_PER_CALL)
    start = position + 1
    for _ in range(max(1, settings.CHAIN_SCAN_MAX_RANGES)):
        if start > latest:
            break
        end = min(start + step - 1, latest)
        transfers = []
        for i in range(0, len(addresses), chunk):
            topic_filter = [TRANSFER_TOPIC, None, [_topic_for(a) for a in addresses[i : i + chunk]]]
            params = {"address": token, "fromBlock": start, "toBlock": end, "topics": topic_filter}
            logs = call(lambda params=params: w3.eth.get_logs(params), f"eth_getLogs {start}-{end}")
            for entry in logs:
                topics = entry["topics"]
                if entry.get("removed") or _hex(entry["address"]) != token.lower():
                    continue  # only the allow-listed USDC contract counts, whatever the node returns
                if len(topics) != 3 or _hex(topics[0]) != TRANSFER_TOPIC:
                    continue
                to = by_lower.get(_address_from_topic(topics[2]).lower())
                if to is None:
                    continue
                transfers.append(
                    services.ObservedTransfer(
                        tx_hash=_hex(entry["transactionHash"]),
                        log_index=str(entry["logIndex"]),
                        from_address=_address_from_topic(topics[1]),
                        to_address=to,
                        amount_units=int(_hex(entry["data"]), 16),
                        block_number=entry["blockNumber"],
                        block_hash=_hex(entry["blockHash"]),
                    )
                )
        report.seen += services.chain_deposits_record(network=network, transfers=transfers)
        report.orphaned += services.chain_deposits_orphan_missing(
            network=network,
            from_block=start,
            to_block=end,
            present={(t.tx_hash, t.log_index) for t in transfers},
        )
        report.to_block = end
        if end <= finalized:
            services.chain_cursor_advance(network=network, block_number=end)
        start = end + 1
    if report.to_block >= finalized:
        services.chain_cursor_advance(network=network, block_number=finalized)

    # Finality: the node's canonical hash at each height where a seen deposit waits, read outside any
    # database transaction, then compared in one.
    heights = set(
        ChainDeposit.objects.filter(
            network=network, status__in=services.UNFINAL_STATUSES, block_number__lte=finalized
        ).values_list("block_number", flat=True)
    )
    canonical = {
        h: _hex(call(lambda h=h: w3.eth.get_block(h)["hash"], f"eth_getBlockByNumber({h})")) for h in sorted(heights)
    }
    report.finalized = services.chain_deposits_finalize(
        network=network, finalized_block=finalized, canonical_hashes=canonical
    )
    report.credited = services.chain_deposits_credit()
    log.info("chain scan %s", report)
    return report
