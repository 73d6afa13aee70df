"""Writes for USDC deposits: deposit addresses, recording transfers, finality, crediting, scan cursors.

Scanners (evm.py, solana.py) make every RPC call outside a database transaction and hand what they
saw to these functions. Each step is idempotent, so a scan that dies half-way simply runs again.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import ChainCursor, ChainDeposit, DepositAddress, LedgerAccount, Network, Transaction
from billing.money import usdc_units_to_nanos
from billing.services import (
    Posting,
    system_account_key_for_chain,
    system_ledger_account_id,
    transactions_post,
    with_ledger_retry,
)

from . import hd

log = logging.getLogger(__name__)
MAX_NANOS = 2**63 - 1

# Not final yet: the chain may still drop them.
UNFINAL_STATUSES = (ChainDeposit.Status.SEEN, ChainDeposit.Status.CONFIRMING)


@dataclass(frozen=True)
class ObservedTransfer:
    """A USDC transfer into one of our addresses, as a node reported it."""

    tx_hash: str
    log_index: str
    from_address: str
    to_address: str  # the deposit address as stored (EVM: checksummed; Solana: the wallet, not its token account)
    amount_units: int
    block_number: int
    block_hash: str = ""
    finalized: bool = False  # Solana: fetched at `finalized` commitment; EVM: decided by chain_deposits_finalize


def usdc_contract(network: str) -> str:
    return getattr(settings, f"CHAIN_USDC_{network.upper()}")


# --- Deposit addresses --------------------------------------------------------------------------------


def _derive(network: str, index: int) -> tuple[str, str] | None:
    if network in hd.EVM_NETWORKS:
        return hd.evm_address(network, index), ""
    if not hd.solana_can_derive():
        return None
    owner = hd.solana_address(index)
    return owner, hd.solana_token_account(owner, usdc_contract(network))


def deposit_address_ensure(*, account, network: str) -> DepositAddress | None:
    """The Account's deposit address on `network`, derived at index = the Account's id.

    None for Solana where this process has no seed (the web tier): the worker's
    `deposit_addresses_ensure` task creates it.
    """
    existing = DepositAddress.objects.filter(account=account, network=network).first()
    if existing:
        return existing
    derived = _derive(network, account.id)
    if derived is None:
        return None
    address, token_account = derived
    try:
        with transaction.atomic():
            return DepositAddress.objects.create(
                account=account,
                network=network,
                derivation_index=account.id,
                address=address,
                token_account=token_account,
            )
    except IntegrityError:
        # Two requests derived it at once; the address is deterministic, so the winner's row is the same.
        return DepositAddress.objects.get(account=account, network=network)


def deposit_addresses_ensure(*, account) -> list[DepositAddress]:
    return [a for network in Network.values if (a := deposit_address_ensure(account=account, network=network))]


# --- Recording what the scanners saw ---------------------------------------------------------------------


@transaction.atomic
def chain_deposits_record(*, network: str, transfers: list[ObservedTransfer]) -> int:
    """Insert new transfers as `seen` (or `finalized`); a transfer seen again in another block is moved there.

    Returns how many rows were created. Credited or finalized rows are never rewritten: they are final.
    """
    if not transfers:
        return 0
    addresses = {
        a.address: a
        for a in DepositAddress.objects.filter(network=network, address__in={t.to_address for t in transfers})
    }
    existing = {
        (d.tx_hash, d.log_index): d
        for d in ChainDeposit.objects.select_for_update().filter(
            network=network, tx_hash__in={t.tx_hash for t in transfers}
        )
    }
    now = timezone.now()
    created = 0
    for t in transfers:
        address = addresses.get(t.to_address)
        if address is None or t.amount_units <= 0:
            # Zero-value transfers are legal ERC-20 (and a common address-poisoning spam): nothing to credit.
            continue
        if usdc_units_to_nanos(t.amount_units) > MAX_NANOS:
            # Beyond a BigIntegerField (over $9.2 billion): staff handle it by hand; the scan goes on.
            log.error("USDC transfer %s:%s too large to record: %s units", t.tx_hash, t.log_index, t.amount_units)
            continue
        row = existing.get((t.tx_hash, t.log_index))
        status = ChainDeposit.Status.FINALIZED if t.finalized else ChainDeposit.Status.SEEN
        if row is None:
            ChainDeposit.objects.create(
                account_id=address.account_id,
                deposit_address=address,
                network=network,
                tx_hash=t.tx_hash,
                log_index=t.log_index,
                from_address=t.from_address,
                to_address=t.to_address,
                amount_units=t.amount_units,
                amount_nanos=usdc_units_to_nanos(t.amount_units),
                block_number=t.block_number,
                block_hash=t.block_hash,
                status=status,
                created_at=now,
                finalized_at=now if t.finalized else None,
            )
            created += 1
        elif row.status in (*UNFINAL_STATUSES, ChainDeposit.Status.ORPHANED):
            same_block = row.block_hash == t.block_hash and row.status != ChainDeposit.Status.ORPHANED
            if not t.finalized and same_block:
                # Seen again in the same block: the chain has kept it so far; finality is what is left.
                status = ChainDeposit.Status.CONFIRMING
            # Otherwise it is back after a reorg (maybe in another block): follow the chain's latest view.
            row.block_number, row.block_hash, row.status = t.block_number, t.block_hash, status
            row.finalized_at = now if t.finalized else None
            row.save(update_fields=["block_number", "block_hash", "status", "finalized_at"])
    return created


@transaction.atomic
def chain_deposits_orphan_missing(
    *, network: str, from_block: int, to_block: int, present: set[tuple[str, str]]
) -> int:
    """Pending deposits in a range just rescanned that the chain no longer has were in orphaned blocks."""
    orphaned = 0
    for row in ChainDeposit.objects.select_for_update().filter(
        network=network, status__in=UNFINAL_STATUSES, block_number__gte=from_block, block_number__lte=to_block
    ):
        if (row.tx_hash, row.log_index) not in present:
            row.status = ChainDeposit.Status.ORPHANED
            row.save(update_fields=["status"])
            orphaned += 1
    return orphaned


@transaction.atomic
def chain_deposits_finalize(*, network: str, finalized_block: int, canonical_hashes: dict[int, str]) -> int:
    """Unfinal deposits at or below the finalized block: canonical ones become `finalized`, others `orphaned`.

    `canonical_hashes` maps block numbers to the hash the node has at that height now; a deposit whose
    block is missing from it is left for the next run.
    """
    finalized = 0
    now = timezone.now()
    for row in ChainDeposit.objects.select_for_update().filter(
        network=network, status__in=UNFINAL_STATUSES, block_number__lte=finalized_block
    ):
        canonical = canonical_hashes.get(row.block_number)
        if canonical is None:
            continue
        if canonical.lower() == row.block_hash.lower():
            row.status, row.finalized_at = ChainDeposit.Status.FINALIZED, now
            finalized += 1
        else:
            row.status = ChainDeposit.Status.ORPHANED
        row.save(update_fields=["status", "finalized_at"])
    return finalized


def chain_cursor_advance(*, network: str, block_number: int) -> None:
    """Move the cursor forward (never back): every block up to `block_number` is finalized and scanned."""
    updated = ChainCursor.objects.filter(network=network, block_number__lt=block_number).update(
        block_number=block_number, updated_at=timezone.now()
    )
    if not updated:
        ChainCursor.objects.get_or_create(network=network, defaults={"block_number": block_number})


def chain_cursor_rewind(*, network: str, block_number: int) -> None:
    """Set the cursor back so the next scan reads again from `block_number + 1` (an operator's rescan)."""
    ChainCursor.objects.update_or_create(
        network=network, defaults={"block_number": block_number, "updated_at": timezone.now()}
    )


# --- Crediting -----------------------------------------------------------------------------------------


def _buyer_ledger_account_id(account_id: int) -> int:
    ledger, _ = LedgerAccount.objects.get_or_create(
        key=f"buyer:{account_id}",
        defaults={"kind": LedgerAccount.Kind.BUYER, "owner_id": account_id, "is_deferred": False},
    )
    return ledger.id


def _credit_account(account_id: int) -> int:
    with transaction.atomic():
        # Locking the Account's finalized deposits serializes concurrent scans of different networks
        # deciding on the same uncredited total.
        rows = list(
            ChainDeposit.objects.select_for_update()
            .filter(
                account_id=account_id,
                status__in=[ChainDeposit.Status.FINALIZED, ChainDeposit.Status.BELOW_MINIMUM],
            )
            .order_by("id")
        )
        if not rows:
            return 0
        if sum(r.amount_nanos for r in rows) < settings.MIN_DEPOSIT_NANOS:
            waiting = [r.id for r in rows if r.status == ChainDeposit.Status.FINALIZED]
            ChainDeposit.objects.filter(id__in=waiting).update(status=ChainDeposit.Status.BELOW_MINIMUM)
            return 0
        buyer = _buyer_ledger_account_id(account_id)
        postings = [
            Posting(
                idempotency_key=r.idempotency_key,
                kind=Transaction.Kind.CHAIN_DEPOSIT,
                legs=(
                    (buyer, r.amount_nanos),
                    (system_ledger_account_id(system_account_key_for_chain(r.network)), -r.amount_nanos),
                ),
                memo=f"USDC deposit on {Network(r.network).label}",
                reference=f"chain:{r.network}:{r.tx_hash}",
            )
            for r in rows
        ]
        batch = transactions_post(postings)
        now = timezone.now()
        for row, result in zip(rows, batch.results, strict=True):
            if result.error is not None:
                raise result.error
            row.status, row.credited_at, row.transaction_id = ChainDeposit.Status.CREDITED, now, result.transaction_id
            row.save(update_fields=["status", "credited_at", "transaction"])
        return len(rows)


def chain_deposits_credit(*, account_ids=None) -> int:
    """Credit finalized deposits, each exactly once (key `chain:<network>:<tx>:<log>`).

    An Account's finalized deposits are credited together once their total reaches MIN_DEPOSIT_NANOS;
    until then they wait as `below_minimum`. Returns how many deposits were credited.
    """
    if account_ids is None:
        # Only a newly finalized deposit can bring an Account's waiting total to the minimum.
        account_ids = set(
            ChainDeposit.objects.filter(status=ChainDeposit.Status.FINALIZED).values_list("account_id", flat=True)
        )
    credited = 0
    for account_id in sorted(account_ids):
        credited += with_ledger_retry(lambda account_id=account_id: _credit_account(account_id))
    return credited
