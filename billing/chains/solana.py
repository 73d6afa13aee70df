"""The Solana scanner: the one module that talks to Solana nodes, by plain JSON-RPC over httpx.

USDC arrives in each deposit wallet's associated token account (ATA) for the USDC mint. Each run,
per deposit address: list the ATA's signatures newer than the stored one (getSignaturesForAddress,
`confirmed`), fetch each transaction (getTransaction, `jsonParsed`) and record the SPL token
transfers into our ATAs of the allow-listed mint. A transaction fetched at `finalized` commitment is
final and is credited; one only `confirmed` is shown as confirming and fetched again next run. The
stored signature moves only past finalized transactions, so nothing is skipped and, with the unique
(network, signature, instruction) key, nothing is recorded or credited twice.
"""

import logging
from dataclasses import dataclass
from itertools import count

import httpx
from django.conf import settings

from billing.models import DepositAddress

from . import services
from .retry import ChainRpcError, with_retries

log = logging.getLogger(__name__)

NETWORK = "solana"
TOKEN_PROGRAMS = {"spl-token", "spl-token-2022"}


class RpcError(Exception):
    """A JSON-RPC error answer (retried like a timeout)."""


class SolanaRpc:
    def __init__(self, url: str, *, client: httpx.Client | None = None):
        self.url = url
        self.client = client or httpx.Client(timeout=settings.CHAIN_RPC_TIMEOUT_SECONDS)
        self._ids = count(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.client.close()

    def call(self, method: str, params: list):
        def once():
            response = self.client.post(
                self.url, json={"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
            )
            response.raise_for_status()
            body = response.json()
            if body.get("error"):
                raise RpcError(f"{method}: {body['error']}")
            return body["result"]

        return with_retries(once, what=f"solana {method}", retry_on=(httpx.HTTPError, RpcError, ValueError, KeyError))

    def signatures_for_address(self, address: str, *, until: str = "", before: str = "") -> list[dict]:
        options = {"commitment": "confirmed", "limit": settings.CHAIN_SOLANA_PAGE_SIZE}
        if until:
            options["until"] = until
        if before:
            options["before"] = before
        return self.call("getSignaturesForAddress", [address, options])

    def transaction(self, signature: str, *, commitment: str) -> dict | None:
        options = {"encoding": "jsonParsed", "commitment": commitment, "maxSupportedTransactionVersion": 0}
        return self.call("getTransaction", [signature, options])


@dataclass
class ScanReport:
    network: str = NETWORK
    addresses: int = 0
    signatures: int = 0
    seen: int = 0
    credited: int = 0


def _instructions(tx: dict):
    """Every instruction with its position: top-level "i", inner "i.j" (transfers made by other programs)."""
    message = tx["transaction"]["message"]
    for i, ix in enumerate(message.get("instructions", [])):
        yield str(i), ix
    for group in (tx.get("meta") or {}).get("innerInstructions") or []:
        for j, ix in enumerate(group.get("instructions", [])):
            yield f"{group['index']}.{j}", ix


def _account_keys(tx: dict) -> list[str]:
    keys = tx["transaction"]["message"].get("accountKeys", [])
    return [k["pubkey"] if isinstance(k, dict) else k for k in keys]


def _mints_by_account(tx: dict) -> dict[str, str]:
    """Token account -> mint, from the balances the node reports around the transaction."""
    keys = _account_keys(tx)
    meta = tx.get("meta") or {}
    mints = {}
    for balance in (meta.get("preTokenBalances") or []) + (meta.get("postTokenBalances") or []):
        index = balance.get("accountIndex")
        if index is not None and index < len(keys):
            mints[keys[index]] = balance.get("mint", "")
    return mints


def transfers_in(tx: dict, *, signature: str, ours: dict[str, str], mint: str, finalized: bool):
    """The USDC transfers of a successful transaction into our token accounts (`ours`: ATA -> wallet)."""
    meta = tx.get("meta") or {}
    if meta.get("err") is not None:
        return []  # a failed transaction moved nothing
    mints = _mints_by_account(tx)
    found = []
    for position, ix in _instructions(tx):
        if ix.get("program") not in TOKEN_PROGRAMS or not isinstance(ix.get("parsed"), dict):
            continue
        kind, info = ix["parsed"].get("type"), ix["parsed"].get("info", {})
        if kind not in ("transfer", "transferChecked"):
            continue
        destination = info.get("destination")
        if destination not in ours:
            continue
        # The mint must be USDC both by the instruction (transferChecked names it) and by the
        # destination account's token balance: a token with the same name is another mint.
        if kind == "transferChecked" and info.get("mint") != mint:
            continue
        if mints.get(destination) != mint:
            continue
        amount = info.get("amount") if kind == "transfer" else (info.get("tokenAmount") or {}).get("amount")
        try:
            units = int(amount)
        except (TypeError, ValueError):
            continue
        if units <= 0:
            continue
        found.append(
            services.ObservedTransfer(
                tx_hash=signature,
                log_index=position,
                from_address=info.get("authority") or info.get("source", ""),
                to_address=ours[destination],
                amount_units=units,
                block_number=tx.get("slot", 0),
                finalized=finalized,
            )
        )
    return found


def _new_signatures(rpc: SolanaRpc, token_account: str, until: str) -> list[dict]:
    """Signatures newer than `until`, oldest first (the node pages newest first)."""
    pages, before = [], ""
    while True:
        page = rpc.signatures_for_address(token_account, until=until, before=before)
        pages.extend(page)
        if len(page) < settings.CHAIN_SOLANA_PAGE_SIZE:
            return list(reversed(pages))
        before = page[-1]["signature"]


def _scan_address(rpc: SolanaRpc, address: DepositAddress, ours: dict[str, str], mint: str, report: ScanReport):
    signatures = _new_signatures(rpc, address.token_account, address.last_signature)
    report.signatures += len(signatures)
    cursor = address.last_signature
    all_final_so_far = True
    for item in signatures:
        signature = item["signature"]
        final = item.get("confirmationStatus") == "finalized"
        if item.get("err") is None:
            tx = rpc.transaction(signature, commitment="finalized" if final else "confirmed")
            if tx is None:
                # Not visible at that commitment yet (e.g. between confirmed and finalized): next run.
                final = False
            else:
                transfers = transfers_in(tx, signature=signature, ours=ours, mint=mint, finalized=final)
                report.seen += services.chain_deposits_record(network=NETWORK, transfers=transfers)
        all_final_so_far = all_final_so_far and final
        if all_final_so_far:
            cursor = signature
    if cursor != address.last_signature:
        DepositAddress.objects.filter(id=address.id).update(last_signature=cursor)


def solana_scan(*, rpc: SolanaRpc | None = None) -> ScanReport | None:
    """One scan of every Solana deposit address; None when CHAIN_SOLANA_RPC_URL is not set. An address
    whose node calls keep failing is skipped this run (its cursor unmoved) and the others go on."""
    if rpc is None:
        if not settings.CHAIN_SOLANA_RPC_URL:
            return None
        with SolanaRpc(settings.CHAIN_SOLANA_RPC_URL) as rpc:
            return solana_scan(rpc=rpc)
    mint = services.usdc_contract(NETWORK)
    addresses = list(DepositAddress.objects.filter(network=NETWORK).exclude(token_account=""))
    ours = {a.token_account: a.address for a in addresses}
    report = ScanReport(addresses=len(addresses))
    failed = None
    for address in addresses:
        try:
            _scan_address(rpc, address, ours, mint, report)
        except ChainRpcError as exc:
            log.warning("solana scan of %s stopped: %s", address.address, exc)
            failed = exc
    report.credited = services.chain_deposits_credit()
    log.info("chain scan %s", report)
    if failed is not None:
        raise failed
    return report
