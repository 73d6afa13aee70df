"""Reads for USDC deposits: an Account's addresses and deposit history."""

from billing.models import ChainDeposit, DepositAddress, Network

# What people see for each status: a deposit is "confirming" until its block is finalized.
STATUS_LABELS = {
    ChainDeposit.Status.SEEN: "Confirming",
    ChainDeposit.Status.FINALIZED: "Finalized",
    ChainDeposit.Status.BELOW_MINIMUM: "Waiting for $5 total",
    ChainDeposit.Status.CREDITED: "Credited",
    ChainDeposit.Status.ORPHANED: "Dropped (chain reorg)",
}

# Statuses that will still change: the portal keeps polling while one is shown.
PENDING_STATUSES = (ChainDeposit.Status.SEEN, ChainDeposit.Status.FINALIZED, ChainDeposit.Status.BELOW_MINIMUM)


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
