"""What the USDC deposit panel shows: per network its address, QR code and token, plus the history."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from billing.models import Network

from . import hd, qr, selectors, services

# How long each network takes to finalize, for people (the scanner reads the node's `finalized` tag).
FINALITY_HINT = {
    "ethereum": "about 15 minutes",
    "base": "about 20 minutes",
    "solana": "under a minute",
}
TOKEN_STANDARD = {"ethereum": "ERC-20", "base": "ERC-20", "solana": "SPL token"}


@dataclass
class NetworkPanel:
    network: str
    label: str
    address: str | None
    qr_svg: str
    token: str
    contract: str
    contract_label: str
    finality: str


def chain_deposit_panel(account) -> dict:
    """Addresses (derived on first view; Solana's by the deposit worker, which holds the seed) and history."""
    addresses = selectors.deposit_addresses_for_account(account)
    missing_solana = False
    for network in Network.values:
        if network not in addresses:
            address = services.deposit_address_ensure(account=account, network=network)
            if address:
                addresses[network] = address
            else:
                missing_solana = True
    if missing_solana and not hd.solana_can_derive():
        from billing.tasks import deposit_addresses_ensure

        transaction.on_commit(lambda: deposit_addresses_ensure.delay(account.id))
    networks = []
    for network in Network.values:
        address = addresses.get(network)
        label = Network(network).label
        networks.append(
            NetworkPanel(
                network=network,
                label=label,
                address=address.address if address else None,
                qr_svg=qr.address_qr_svg(address.address, title=f"{label} deposit address") if address else "",
                token=f"USDC ({TOKEN_STANDARD[network]}, 6 decimals)",
                contract=services.usdc_contract(network),
                contract_label="Mint" if network == "solana" else "Contract",
                finality=FINALITY_HINT[network],
            )
        )
    rows = selectors.chain_deposits_for_account(account, limit=50)
    return {
        "networks": networks,
        "rows": rows,
        "pending": any(r["status"] in selectors.PENDING_STATUSES for r in rows),
        "minimum_nanos": settings.MIN_DEPOSIT_NANOS,
    }
