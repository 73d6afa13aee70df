"""The one module that talks to EVM chains for payouts: the hot wallet, signing, broadcasting, receipts.

The hot wallet's private key comes from settings and stays inside this module: it is never logged,
never put in an exception message, never returned.
"""

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from eth_abi import encode
from eth_account import Account
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")  # transfer(address,uint256)

# Web3 clients by network. Built from CHAIN_<NETWORK>_RPC_URL; tests put a local chain here.
clients: dict[str, Web3] = {}


class ChainUnavailable(Exception):
    """The network is not configured or its node did not answer: try again later, nothing changed."""


class BroadcastRejected(Exception):
    """The node refused the transaction and the chain does not know it: it was never sent."""


@dataclass(frozen=True)
class SendParams:
    chain_id: int
    pending_nonce: int
    gas_price: int


@dataclass(frozen=True)
class SignedTransfer:
    raw_hex: str
    tx_hash: str


@dataclass(frozen=True)
class Receipt:
    succeeded: bool
    block_number: int
    block_hash: str


def web3_for(network: str) -> Web3:
    if network in clients:
        return clients[network]
    config = settings.PAYOUT_EVM_NETWORKS.get(network) or {}
    if not config.get("rpc_url"):
        raise ChainUnavailable(f"No RPC endpoint is configured for {network} (CHAIN_{network.upper()}_RPC_URL)")
    clients[network] = Web3(Web3.HTTPProvider(config["rpc_url"], request_kwargs={"timeout": 20}))
    return clients[network]


def usdc_contract(network: str) -> str:
    return to_checksum_address(settings.PAYOUT_EVM_NETWORKS[network]["usdc"])


@cache
def _hot_wallet(key: str):
    return Account.from_key(key)


def hot_wallet_address() -> str:
    if not settings.PAYOUT_HOT_WALLET_PRIVATE_KEY:
        raise ChainUnavailable("The payout hot wallet is not configured (PAYOUT_HOT_WALLET_PRIVATE_KEY)")
    try:
        return _hot_wallet(settings.PAYOUT_HOT_WALLET_PRIVATE_KEY).address
    except Exception:
        # Never let the key (or a part of it) reach a log through the exception's message.
        raise ChainUnavailable("PAYOUT_HOT_WALLET_PRIVATE_KEY is not a valid private key") from None


def send_params(network: str) -> SendParams:
    """What signing needs from the node (called outside any database transaction)."""
    w3 = web3_for(network)
    try:
        return SendParams(
            chain_id=w3.eth.chain_id,
            pending_nonce=w3.eth.get_transaction_count(hot_wallet_address(), "pending"),
            gas_price=w3.eth.gas_price,
        )
    except ChainUnavailable:
        raise
    except Exception as exc:
        raise ChainUnavailable(f"The {network} node did not answer: {type(exc).__name__}") from None


def transfer_sign(*, network: str, to_address: str, units: int, nonce: int, params: SendParams) -> SignedTransfer:
    """Sign a USDC `transfer(to, units)` from the hot wallet with the given nonce (no I/O)."""
    data = TRANSFER_SELECTOR + encode(["address", "uint256"], [to_checksum_address(to_address), units])
    tx = {
        "to": usdc_contract(network),
        "value": 0,
        "data": data,
        "gas": settings.PAYOUT_GAS_LIMIT,
        "gasPrice": params.gas_price,
        "nonce": nonce,
        "chainId": params.chain_id,
    }
    signed = _hot_wallet(settings.PAYOUT_HOT_WALLET_PRIVATE_KEY).sign_transaction(tx)
    return SignedTransfer(raw_hex="0x" + bytes(signed.raw_transaction).hex(), tx_hash="0x" + bytes(signed.hash).hex())


def transaction_known(network: str, tx_hash: str) -> bool:
    """Whether the node has the transaction, pending or mined."""
    try:
        web3_for(network).eth.get_transaction(HexBytes(tx_hash))
    except Exception:
        return False
    return True


def raw_broadcast(*, network: str, raw_hex: str, tx_hash: str) -> None:
    """Send signed bytes. Sending the same bytes again is harmless: they are one transaction, one nonce.

    A node that refuses them ("already known", "nonce too low" after it was mined) is fine when the
    chain knows the hash; otherwise the transaction was never sent (BroadcastRejected).
    """
    w3 = web3_for(network)
    try:
        w3.eth.send_raw_transaction(HexBytes(raw_hex))
        return
    except Exception as exc:
        if transaction_known(network, tx_hash):
            return
        if isinstance(exc, OSError | TimeoutError):
            raise ChainUnavailable(f"The {network} node did not answer: {type(exc).__name__}") from None
        raise BroadcastRejected(str(exc)[:300]) from None


def confirmed_nonce(network: str, address: str) -> int:
    """How many transactions of `address` are mined: a nonce below it is used up for good."""
    try:
        return web3_for(network).eth.get_transaction_count(address, "latest")
    except Exception as exc:
        raise ChainUnavailable(f"The {network} node did not answer: {type(exc).__name__}") from None


def receipt(network: str, tx_hash: str) -> Receipt | None:
    try:
        found = web3_for(network).eth.get_transaction_receipt(HexBytes(tx_hash))
    except Exception:
        return None
    if found is None:
        return None
    return Receipt(
        succeeded=found["status"] == 1,
        block_number=found["blockNumber"],
        block_hash="0x" + bytes(found["blockHash"]).hex(),
    )


def finalized_block_number(network: str) -> int:
    """The chain's `finalized` block: a payout is paid only once its block is at or below it."""
    try:
        return web3_for(network).eth.get_block("finalized")["number"]
    except Exception as exc:
        raise ChainUnavailable(f"The {network} node did not answer: {type(exc).__name__}") from None


def canonical_block_hash(network: str, number: int) -> str:
    try:
        return "0x" + bytes(web3_for(network).eth.get_block(number)["hash"]).hex()
    except Exception as exc:
        raise ChainUnavailable(f"The {network} node did not answer: {type(exc).__name__}") from None
