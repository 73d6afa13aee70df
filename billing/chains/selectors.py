"""Reads for USDC deposits: an Account's addresses and deposit history."""

import uuid

from django.db.models import Q

from billing.models import ChainDeposit, DepositAddress, Network

# What people see for each status: seen → confirming → credited.
STATUS_LABELS = {
    ChainDeposit.Status.SEEN: "Seen",
    ChainDeposit.Status.CONFIRMING: "Confirming",
    ChainDeposit.Status.FINALIZED: "Finalized",
    ChainDeposit.Status.BELOW_MINIMUM: "Waiting for $5 total",
    ChainDeposit.Status.CREDITED: "Credited",
    ChainDeposit.Status.ORPHANED: "Dropped (chain reorg)",
}

# Statuses that will still change: the portal keeps polling while one is shown.
PENDING_STATUSES = (
    ChainDeposit.Status.SEEN,
    ChainDeposit.Status.CONFIRMING,
    ChainDeposit.Status.FINALIZED,
    ChainDeposit.Status.BELOW_MINIMUM,
)


def deposit_addresses_for_account(account) -> dict[str, DepositAddress]:
    return {a.network: a for a in DepositAddress.objects.filter(account=account)}


def chain_deposits_for_account(account, *, limit: int = 100) -> list[dict]:
    """An Account's USDC deposits, newest first, in the shape of /api/deposits rows."""
    rows = ChainDeposit.objects.filter(account=account).order_by("-created_at", "-id")[:limit]
    return [
        {
            "id": str(d.code),
            "method": "usdc",
            "network": d.network,
            "network_label": Network(d.network).label,
            "amount_nanos": d.amount_nanos,
            "status": d.status,
            "status_label": STATUS_LABELS[d.status],
            "created_at": d.created_at,
            "credited_at": d.credited_at,
            "reference": d.tx_hash,
            "from_address": d.from_address,
            "block_number": d.block_number,
        }
        for d in rows
    ]


# --- The combined deposit history (cards and USDC) -----------------------------------------------------
# The card work merges every deposit method through a `DepositSource(method, queryset, row, lookup)`
# whose rows are `DepositRow`s; these three are USDC's.


def chain_deposits_queryset(account):
    """An Account's USDC deposits, orphaned ones included (shown as dropped)."""
    return ChainDeposit.objects.filter(account=account)


def chain_deposit_row_fields(deposit: ChainDeposit) -> dict:
    """The fields of a `DepositRow` for one USDC deposit."""
    return {
        "id": str(deposit.code),
        "method": "usdc",
        "network": deposit.network,
        "amount_nanos": deposit.amount_nanos,
        "status": deposit.status,
        "created_at": deposit.created_at,
        "credited_at": deposit.credited_at,
        "reference": deposit.tx_hash,
        "sort_id": deposit.id,
    }


def chain_deposit_lookup(public_id: str):
    """A filter for the USDC deposit with this public id, or None when it cannot be one."""
    try:
        return Q(code=uuid.UUID(public_id))
    except ValueError:
        return None
