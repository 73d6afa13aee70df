"""Test helpers for local EVM chains: deploy the repository's 6-decimal TestUSDC ERC-20 and move it.

Works on any web3.py `Web3` whose node has unlocked accounts: `EthereumTesterProvider` in process
(eth-tester[py-evm]) or a `hardhat node` over HTTP. Amounts are in the token's base units
(1 USDC = 1_000_000 units).
"""

import json
from functools import cache
from pathlib import Path

from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract

ARTIFACT_PATH = Path(__file__).parent / "contracts" / "TestUSDC.json"
SOURCE_PATH = Path(__file__).parent / "contracts" / "TestUSDC.sol"
COMPILE_SCRIPT = Path(__file__).parent / "contracts" / "compile.js"


@cache
def artifact() -> dict:
    """The committed compiler output: {"abi": [...], "bytecode": "0x..."}."""
    return json.loads(ARTIFACT_PATH.read_text())


def eth_tester_web3() -> Web3:
    """A fresh in-process chain (py-evm) with ten funded, unlocked accounts."""
    return Web3(EthereumTesterProvider())


def deploy_token(w3: Web3, *, name: str = "USD Coin", symbol: str = "USDC", deployer: str | None = None) -> Contract:
    """Deploy a TestUSDC and return the bound contract once its deployment is mined."""
    deployer = deployer or w3.eth.accounts[0]
    factory = w3.eth.contract(abi=artifact()["abi"], bytecode=artifact()["bytecode"])
    tx_hash = factory.constructor(name, symbol).transact({"from": deployer})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact()["abi"])


def mint(token: Contract, to: str, units: int, *, sender: str | None = None) -> str:
    """Mint `units` to `to` (emits Transfer from the zero address); returns the transaction hash (0x hex)."""
    w3 = token.w3
    tx_hash = token.functions.mint(Web3.to_checksum_address(to), units).transact({"from": sender or w3.eth.accounts[0]})
    w3.eth.wait_for_transaction_receipt(tx_hash)
    return "0x" + bytes(tx_hash).hex()


def transfer(token: Contract, to: str, units: int, *, sender: str | None = None) -> str:
    """Transfer `units` from `sender` (default: the node's first account, funded by minting first)."""
    w3 = token.w3
    sender = sender or w3.eth.accounts[0]
    if token.functions.balanceOf(sender).call() < units:
        mint(token, sender, units)
    tx_hash = token.functions.transfer(Web3.to_checksum_address(to), units).transact({"from": sender})
    w3.eth.wait_for_transaction_receipt(tx_hash)
    return "0x" + bytes(tx_hash).hex()


def balance_of(token: Contract, address: str) -> int:
    return token.functions.balanceOf(Web3.to_checksum_address(address)).call()
