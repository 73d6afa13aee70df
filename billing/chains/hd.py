"""Deterministic deposit addresses (BIP-44): EVM from an account-level xpub, Solana from the worker's seed."""

from bip_utils import Bip32KeyError, Bip44, Bip44Changes, Bip44Coins, Bip44DepthError, Bip44Levels
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from solders.pubkey import Pubkey

EVM_NETWORKS = ("ethereum", "base")
TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9ss623VQ5DA")
ASSOCIATED_TOKEN_PROGRAM_ID = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZHsiqW3WWaUJHSYWaqwVVrQF")


def _xpub(network: str) -> str:
    xpub = getattr(settings, f"DEPOSIT_XPUB_{network.upper()}", "")
    if not xpub:
        raise ImproperlyConfigured(f"DEPOSIT_XPUB_{network.upper()} is not set")
    return xpub


def evm_address(network: str, index: int) -> str:
    """The checksummed address at m/44'/60'/<account>'/0/<index> from the network's account-level xpub."""
    try:
        ctx = Bip44.FromExtendedKey(_xpub(network), Bip44Coins.ETHEREUM)
    except (Bip44DepthError, Bip32KeyError, ValueError) as exc:
        raise ImproperlyConfigured(f"DEPOSIT_XPUB_{network.upper()} is not a usable BIP-44 xpub: {exc}") from exc
    if ctx.Level() != Bip44Levels.ACCOUNT:
        raise ImproperlyConfigured(f"DEPOSIT_XPUB_{network.upper()} must be an account-level (m/44'/60'/n') key")
    return ctx.Change(Bip44Changes.CHAIN_EXT).AddressIndex(index).PublicKey().ToAddress()


def solana_can_derive() -> bool:
    """Only the deposit worker holds the Solana seed; the web tier shows stored addresses instead."""
    return bool(settings.DEPOSIT_SEED_SOLANA)


def solana_address(index: int) -> str:
    """The wallet at m/44'/501'/<index>'/0' (the path Solana wallets use), from the worker's seed."""
    if not settings.DEPOSIT_SEED_SOLANA:
        raise ImproperlyConfigured("DEPOSIT_SEED_SOLANA is not set (only the deposit worker has it)")
    seed = bytes.fromhex(settings.DEPOSIT_SEED_SOLANA)
    ctx = Bip44.FromSeed(seed, Bip44Coins.SOLANA).Purpose().Coin().Account(index).Change(Bip44Changes.CHAIN_EXT)
    return ctx.PublicKey().ToAddress()


def solana_token_account(owner: str, mint: str) -> str:
    """The owner's associated token account for `mint`: where wallets send that token."""
    address, _bump = Pubkey.find_program_address(
        [bytes(Pubkey.from_string(owner)), bytes(TOKEN_PROGRAM_ID), bytes(Pubkey.from_string(mint))],
        ASSOCIATED_TOKEN_PROGRAM_ID,
    )
    return str(address)
