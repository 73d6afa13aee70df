"""Test helpers for local EVM chains: deploy the repository's 6-decimal TestUSDC ERC-20 and move it.

Works on any web3.py `Web3` whose node has unlocked accounts: `EthereumTesterProvider` in process
(eth-tester[py-evm]) or a `hardhat node` over HTTP. Amounts are in the token's base units
(1 USDC = 1_000_000 units).
"""

import json
import os
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
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


class LocalChainProvider(EthereumTesterProvider):
    """eth-tester (py-evm, in process) whose `finalized` block is what the test says.

    eth-tester reports `finalized` = `latest`; real chains finalize minutes later. Set
    `finalized_block` to a height to make the node answer `finalized` with that block (None: latest),
    and `failures` to make the next N requests fail like an unreachable node.
    """

    finalized_block: int | None = None
    failures: int = 0

    def make_request(self, method, params):
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("node unreachable (simulated)")
        if (
            method == "eth_getBlockByNumber"
            and self.finalized_block is not None
            and params
            and params[0] == "finalized"
        ):
            params = [self.finalized_block, *params[1:]]
        return super().make_request(method, params)

    @property
    def tester(self):
        return self.ethereum_tester


def eth_tester_web3() -> Web3:
    """A fresh in-process chain (py-evm) with ten funded, unlocked accounts; `w3.provider` is a
    LocalChainProvider (finality and failures under the test's control)."""
    return Web3(LocalChainProvider())


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


REPO_ROOT = Path(__file__).resolve().parents[2]
HARDHAT_BIN = REPO_ROOT / "node_modules" / ".bin" / "hardhat"
HARDHAT_CONFIG = Path(__file__).parent / "hardhat.config.js"


@contextmanager
def hardhat_node(*, startup_timeout: float = 60.0):
    """Run `hardhat node` (npm hardhat@2, installed by `make install-dev`) on a free loopback port.

    Yields its URL. It needs no network: the node is entirely local and nothing is compiled.
    """
    if not HARDHAT_BIN.exists():
        raise RuntimeError("hardhat is not installed: run `make install-dev` (npm ci)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "DO_NOT_TRACK": "1"}
    process = subprocess.Popen(  # noqa: S603 - a fixed local binary
        [str(HARDHAT_BIN), "--config", str(HARDHAT_CONFIG), "node", "--hostname", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        output = []
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError("hardhat node exited:\n" + "".join(output))
            output.append(line)
            if "Started HTTP" in line:
                break
        else:
            raise RuntimeError("hardhat node did not start in time:\n" + "".join(output))
        # Keep draining its output so the node never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
