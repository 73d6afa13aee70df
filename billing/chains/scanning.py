"""Dispatch a scan to the scanner of a network's kind (EVM or Solana)."""

from . import evm, hd, solana


def chain_scan(*, network: str):
    if network in hd.EVM_NETWORKS:
        return evm.evm_scan(network)
    if network == "solana":
        return solana.solana_scan()
    raise ValueError(f"Unknown network {network!r}")
