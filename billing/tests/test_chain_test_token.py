"""The repository's TestUSDC ERC-20: the committed artifact matches its source, and it works on eth-tester."""

import json
import subprocess
from pathlib import Path

from billing.chains import testing

REPO = Path(__file__).resolve().parents[2]


def test_it_recompiles_to_the_committed_bytecode():
    # solc comes from npm (make install-dev); recompiling must reproduce the committed JSON exactly.
    assert (REPO / "node_modules" / "solc").is_dir(), "run `make install-dev` to install solc from npm"
    out = subprocess.run(
        ["node", str(testing.COMPILE_SCRIPT)], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    compiled = json.loads(out)
    assert compiled["bytecode"] == testing.artifact()["bytecode"]
    assert compiled["abi"] == testing.artifact()["abi"]
    assert compiled["evmVersion"] == "paris"


def test_it_deploys_a_six_decimal_token_and_moves_it():
    w3 = testing.eth_tester_web3()
    token = testing.deploy_token(w3)
    holder = w3.eth.accounts[1]

    testing.mint(token, holder, 7_500_000)
    tx = testing.transfer(token, w3.eth.accounts[2], 2_500_000, sender=holder)

    assert token.functions.decimals().call() == 6
    assert token.functions.symbol().call() == "USDC"
    assert testing.balance_of(token, holder) == 5_000_000
    assert testing.balance_of(token, w3.eth.accounts[2]) == 2_500_000
    logs = w3.eth.get_logs(
        {
            "address": token.address,
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": ["0x" + w3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix("0x")],
        }
    )
    assert ["0x" + bytes(log["transactionHash"]).hex() for log in logs][-1] == tx


def test_it_deploys_a_second_token_with_the_same_name_at_another_address():
    w3 = testing.eth_tester_web3()
    real = testing.deploy_token(w3)
    fake = testing.deploy_token(w3)

    assert fake.functions.name().call() == real.functions.name().call() == "USD Coin"
    assert fake.address != real.address
