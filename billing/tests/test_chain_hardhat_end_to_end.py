"""End to end on a real JSON-RPC node: `hardhat node` on loopback, reached through CHAIN_ETHEREUM_RPC_URL."""

import os
import subprocess
import time

import pytest

from billing import tasks
from billing.chains import services, testing
from billing.checks import ledger_check
from billing.models import ChainDeposit, Transaction
from billing.selectors import buyer_ledger_account

pytestmark = pytest.mark.slow


def test_it_credits_a_usdc_transfer_seen_by_the_beat_task_once_and_ignores_a_fake(hardhat, alice_account, settings):
    usdc = testing.deploy_token(hardhat)
    fake = testing.deploy_token(hardhat, name="USD Coin", symbol="USDC")
    settings.CHAIN_USDC_ETHEREUM = usdc.address
    address = services.deposit_address_ensure(account=alice_account, network="ethereum").address
    sender = hardhat.eth.accounts[7]
    testing.mint(usdc, sender, 100_000_000)
    tx = testing.transfer(usdc, address, 64_250_000, sender=sender)
    testing.transfer(fake, address, 900_000_000)

    for _ in range(3):
        tasks.chain_scan.delay("ethereum")

    deposit = ChainDeposit.objects.get()
    assert (deposit.tx_hash, deposit.from_address, deposit.status) == (tx, sender, ChainDeposit.Status.CREDITED)
    assert deposit.block_hash == "0x" + bytes(hardhat.eth.get_block(deposit.block_number)["hash"]).hex()
    assert buyer_ledger_account(account=alice_account).balance_nanos == 64_250_000_000
    assert Transaction.objects.filter(kind="chain_deposit").count() == 1
    assert ledger_check().ok


def test_it_starts_the_hardhat_node_with_no_network_at_all():
    # In a fresh network namespace (loopback only, no route out) the node must still start: proof
    # that nothing is downloaded at run time.
    command = [
        "unshare",
        "-rn",
        "sh",
        "-c",
        'ip link set lo up 2>/dev/null; exec "$0" --config "$1" node --hostname 127.0.0.1 --port 8545',
        str(testing.HARDHAT_BIN),
        str(testing.HARDHAT_CONFIG),
    ]
    process = subprocess.Popen(
        command,
        cwd=testing.REPO_ROOT,
        env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
            lines.append(line)
            if "Started HTTP" in line:
                break
        assert any("Started HTTP" in line for line in lines), "".join(lines)
    finally:
        process.terminate()
        process.wait(timeout=10)
