"""Validation of payout wallet addresses: EIP-55 checksums on EVM networks, 32-byte base58 keys on Solana."""

from eth_utils import is_checksum_address, is_hex_address, to_checksum_address
from solders.pubkey import Pubkey

from infer.errors import ApplicationError

EVM_NETWORKS = ("ethereum", "base")


def address_normalize(*, network: str, address: str) -> str:
    """The address as stored, or an ApplicationError saying what is wrong with it."""
    address = (address or "").strip()
    if not address:
        raise ApplicationError("Enter the wallet address", code="invalid_address")
    if network in EVM_NETWORKS:
        if not is_hex_address(address):
            raise ApplicationError(
                "That is not an Ethereum-style address: expected 0x followed by 40 hexadecimal characters",
                code="invalid_address",
            )
        mixed_case = address[2:] != address[2:].lower() and address[2:] != address[2:].upper()
        if mixed_case and not is_checksum_address(address):
            # A mixed-case address carries an EIP-55 checksum; a wrong one means a typo.
            raise ApplicationError(
                "The address checksum (EIP-55 capitalisation) does not match: check for a typo",
                code="invalid_address",
            )
        if not mixed_case:
            # An all-lower or all-upper address has no checksum to catch a typo: ask for the checksummed form.
            raise ApplicationError(
                "Enter the address with its EIP-55 checksum (mixed capitals), as your wallet shows it",
                code="invalid_address",
            )
        if int(address, 16) == 0:
            raise ApplicationError("The zero address cannot receive payouts", code="invalid_address")
        return to_checksum_address(address)
    if network == "solana":
        try:
            key = Pubkey.from_string(address)
        except ValueError:
            raise ApplicationError(
                "That is not a Solana address: expected a base58 public key of 32 bytes", code="invalid_address"
            )
        if str(key) != address:
            raise ApplicationError("That is not a Solana address in canonical base58", code="invalid_address")
        return address
    raise ApplicationError("Choose Ethereum, Base or Solana", code="invalid_network")
