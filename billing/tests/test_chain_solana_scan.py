"""The Solana scanner against a JSON-RPC node of ours on loopback: credits once, ignores other mints, survives errors."""

import pytest

from billing.chains import hd, services
from billing.chains.retry import ChainRpcError
from billing.chains.solana import solana_scan
from billing.chains.testing_solana import FakeSolanaNode
from billing.checks import ledger_check
from billing.models import ChainDeposit, DepositAddress, Transaction
from billing.selectors import buyer_ledger_account

USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
FAKE_MINT = "Fake1111111111111111111111111111111111111111"  # a token with USDC's name on another mint
SENDER = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
DOLLAR = 1_000_000_000


@pytest.fixture
def node(chain_settings):
    chain_settings.CHAIN_USDC_SOLANA = USDC_MINT
    chain_settings.CHAIN_RPC_TIMEOUT_SECONDS = 1
    with FakeSolanaNode() as node:
        chain_settings.CHAIN_SOLANA_RPC_URL = node.url
        yield node


def _wallet(account) -> DepositAddress:
    return services.deposit_address_ensure(account=account, network="solana")


def _send(node, wallet: DepositAddress, units: int, **kwargs) -> str:
    source = hd.solana_token_account(SENDER, kwargs.get("mint", USDC_MINT))
    kwargs.setdefault("mint", USDC_MINT)
    return node.add_transfer(source=source, destination=wallet.token_account, amount=units, authority=SENDER, **kwargs)


def _balance(account):
    return buyer_ledger_account(account=account).balance_nanos


def test_it_derives_the_wallet_and_its_usdc_token_account(node, alice_account):
    wallet = _wallet(alice_account)

    assert wallet.address == hd.solana_address(alice_account.id)
    assert wallet.token_account == hd.solana_token_account(wallet.address, USDC_MINT)
    assert wallet.token_account != wallet.address


def test_it_credits_a_usdc_transfer_once(node, alice_account):
    wallet = _wallet(alice_account)
    signature = _send(node, wallet, 12_340_000)

    for _ in range(3):
        solana_scan()

    deposit = ChainDeposit.objects.get()
    assert (deposit.network, deposit.tx_hash, deposit.log_index) == ("solana", signature, "1")
    assert deposit.to_address == wallet.address
    assert deposit.status == ChainDeposit.Status.CREDITED
    assert _balance(alice_account) == 12_340_000_000
    assert Transaction.objects.get(kind="chain_deposit").idempotency_key == f"chain:solana:{signature}:1"
    assert ledger_check().ok


def test_it_ignores_other_mints(node, alice_account):
    wallet = _wallet(alice_account)
    # To the wallet's token account for the fake mint (not ours), and two transactions that name our
    # USDC token account but move another mint.
    node.add_transfer(
        source=hd.solana_token_account(SENDER, FAKE_MINT),
        destination=hd.solana_token_account(wallet.address, FAKE_MINT),
        mint=FAKE_MINT,
        amount=500_000_000,
        authority=SENDER,
    )
    _send(node, wallet, 500_000_000, mint=FAKE_MINT)
    _send(node, wallet, 500_000_000, mint=USDC_MINT, checked=False, balance_mint=FAKE_MINT)

    solana_scan()

    assert not ChainDeposit.objects.exists()
    assert _balance(alice_account) == 0


def test_it_ignores_failed_transactions(node, alice_account):
    wallet = _wallet(alice_account)
    _send(node, wallet, 9_000_000, err={"InstructionError": [1, {"Custom": 1}]})

    solana_scan()

    assert not ChainDeposit.objects.exists()


def test_it_shows_a_confirmed_transfer_as_confirming_until_it_is_finalized(node, alice_account):
    wallet = _wallet(alice_account)
    signature = _send(node, wallet, 6_000_000, finalized=False)

    solana_scan()
    assert ChainDeposit.objects.get().status == ChainDeposit.Status.SEEN
    solana_scan()
    assert ChainDeposit.objects.get().status == ChainDeposit.Status.CONFIRMING
    assert _balance(alice_account) == 0
    assert DepositAddress.objects.get(id=wallet.id).last_signature == ""

    node.finalize(signature)
    solana_scan()
    solana_scan()

    assert ChainDeposit.objects.get().status == ChainDeposit.Status.CREDITED
    assert _balance(alice_account) == 6 * DOLLAR
    assert DepositAddress.objects.get(id=wallet.id).last_signature == signature
    assert ledger_check().ok


def test_it_pages_through_many_signatures_and_reads_inner_instructions(node, alice_account, settings):
    settings.CHAIN_SOLANA_PAGE_SIZE = 2
    wallet = _wallet(alice_account)
    for _ in range(4):
        _send(node, wallet, 2_000_000)
    _send(node, wallet, 3_000_000, inner=True)

    solana_scan()
    solana_scan()

    assert ChainDeposit.objects.filter(status=ChainDeposit.Status.CREDITED).count() == 5
    assert ChainDeposit.objects.filter(log_index="1.0").count() == 1
    assert _balance(alice_account) == 11 * DOLLAR
    assert ledger_check().ok


def test_it_survives_node_errors_and_timeouts(node, alice_account, charlie_account):
    alice_wallet, charlie_wallet = _wallet(alice_account), _wallet(charlie_account)
    _send(node, alice_wallet, 20_000_000)
    _send(node, charlie_wallet, 8_000_000)
    node.fail_next(1, "http")
    node.fail_next(1, "rpc")
    node.fail_next(1, "slow")

    solana_scan()
    solana_scan()

    assert _balance(alice_account) == 20 * DOLLAR
    assert _balance(charlie_account) == 8 * DOLLAR
    assert ChainDeposit.objects.count() == Transaction.objects.filter(kind="chain_deposit").count() == 2
    assert ledger_check().ok


def test_it_keeps_its_place_when_the_node_stays_down(node, alice_account):
    wallet = _wallet(alice_account)
    _send(node, wallet, 15_000_000)
    node.fail_next(100, "http")

    with pytest.raises(ChainRpcError):
        solana_scan()
    assert DepositAddress.objects.get(id=wallet.id).last_signature == ""

    node.failures.clear()
    solana_scan()
    solana_scan()

    assert _balance(alice_account) == 15 * DOLLAR
    assert ChainDeposit.objects.count() == 1
    assert ledger_check().ok
