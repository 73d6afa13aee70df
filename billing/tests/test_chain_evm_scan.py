"""The EVM scanner on eth-tester in process: seen, finalized, credited once; fakes, reorgs, rescans, the $5 rule."""

import pytest

from billing.chains import services, testing
from billing.chains.evm import evm_scan
from billing.chains.retry import ChainRpcError
from billing.checks import ledger_check
from billing.models import ChainCursor, ChainDeposit, Transaction
from billing.selectors import buyer_ledger_account

USDC = 1_000_000  # base units per USDC
DOLLAR = 1_000_000_000  # nanos


def _address(account):
    return services.deposit_address_ensure(account=account, network="ethereum").address


def _balance(account):
    return buyer_ledger_account(account=account).balance_nanos


def test_it_sees_a_transfer_then_credits_it_after_finality_exactly_once(chain, alice_account):
    address = _address(alice_account)
    chain.provider.finalized_block = chain.eth.block_number  # finality stops here for now
    tx = testing.transfer(chain.usdc, address, 25 * USDC)

    evm_scan("ethereum", w3=chain)
    deposit = ChainDeposit.objects.get()
    assert deposit.status == ChainDeposit.Status.SEEN
    assert (deposit.tx_hash, deposit.to_address, deposit.amount_nanos) == (tx, address, 25 * DOLLAR)
    assert _balance(alice_account) == 0

    testing.mint(chain.usdc, chain.eth.accounts[4], 1)  # the chain moves on; finality does not
    evm_scan("ethereum", w3=chain)
    deposit.refresh_from_db()
    assert deposit.status == ChainDeposit.Status.CONFIRMING
    assert _balance(alice_account) == 0

    chain.provider.finalized_block = None  # the node now reports its latest block as finalized
    evm_scan("ethereum", w3=chain)
    evm_scan("ethereum", w3=chain)

    deposit.refresh_from_db()
    assert deposit.status == ChainDeposit.Status.CREDITED
    assert _balance(alice_account) == 25 * DOLLAR
    txn = Transaction.objects.get(kind=Transaction.Kind.CHAIN_DEPOSIT)
    assert txn.idempotency_key == f"chain:ethereum:{tx}:{deposit.log_index}"
    assert deposit.transaction_id == txn.id
    assert ledger_check().ok


def test_it_ignores_a_fake_token_with_the_same_name_and_symbol(chain, alice_account):
    address = _address(alice_account)
    fake = testing.deploy_token(chain, name="USD Coin", symbol="USDC")
    testing.transfer(fake, address, 1_000 * USDC)

    evm_scan("ethereum", w3=chain)

    assert fake.functions.symbol().call() == chain.usdc.functions.symbol().call()
    assert testing.balance_of(fake, address) == 1_000 * USDC
    assert not ChainDeposit.objects.exists()
    assert _balance(alice_account) == 0
    assert ledger_check().ok


def test_it_ignores_usdc_sent_to_addresses_that_are_not_deposit_addresses(chain, alice_account):
    _address(alice_account)
    testing.transfer(chain.usdc, chain.eth.accounts[5], 50 * USDC)

    evm_scan("ethereum", w3=chain)

    assert not ChainDeposit.objects.exists()


def test_it_leaves_no_credit_from_a_block_orphaned_before_finality(chain, alice_account):
    address = _address(alice_account)
    tester = chain.provider.tester
    chain.provider.finalized_block = chain.eth.block_number
    snapshot = tester.take_snapshot()
    orphaned_tx = testing.transfer(chain.usdc, address, 40 * USDC)
    evm_scan("ethereum", w3=chain)
    seen = ChainDeposit.objects.get()
    assert seen.status == ChainDeposit.Status.SEEN

    # Reorg: back to before the transfer, and a longer chain without it (a different deposit instead).
    tester.revert_to_snapshot(snapshot)
    tester.mine_blocks(3)
    canonical_tx = testing.transfer(chain.usdc, address, 7 * USDC)
    assert chain.eth.get_block(seen.block_number)["hash"].hex() != seen.block_hash.removeprefix("0x")
    chain.provider.finalized_block = None
    evm_scan("ethereum", w3=chain)

    seen.refresh_from_db()
    assert seen.tx_hash == orphaned_tx
    assert seen.status == ChainDeposit.Status.ORPHANED
    assert seen.transaction_id is None
    credited = ChainDeposit.objects.get(status=ChainDeposit.Status.CREDITED)
    assert credited.tx_hash == canonical_tx
    assert _balance(alice_account) == 7 * DOLLAR
    assert not Transaction.objects.filter(idempotency_key__contains=orphaned_tx).exists()
    assert ledger_check().ok


def test_it_credits_an_orphaned_transfer_again_seen_in_its_new_block_once(chain, alice_account):
    address = _address(alice_account)
    tester = chain.provider.tester
    chain.provider.finalized_block = chain.eth.block_number
    sender = chain.eth.accounts[3]
    testing.mint(chain.usdc, sender, 10 * USDC)
    snapshot = tester.take_snapshot()
    testing.transfer(chain.usdc, address, 10 * USDC, sender=sender)
    evm_scan("ethereum", w3=chain)
    first = ChainDeposit.objects.get()

    # The same transfer mined again one block later, as after a reorg that re-includes it.
    tester.revert_to_snapshot(snapshot)
    tester.mine_blocks(1)
    testing.transfer(chain.usdc, address, 10 * USDC, sender=sender)
    chain.provider.finalized_block = None
    evm_scan("ethereum", w3=chain)

    deposit = ChainDeposit.objects.get()
    assert deposit.tx_hash == first.tx_hash
    assert deposit.block_number == first.block_number + 1
    assert deposit.status == ChainDeposit.Status.CREDITED
    assert _balance(alice_account) == 10 * DOLLAR
    assert ledger_check().ok


def test_it_adds_nothing_when_a_range_is_rescanned(chain, alice_account, charlie_account, settings):
    settings.CHAIN_SCAN_RANGE_BLOCKS = 2  # many small ranges
    alice_address, charlie_address = _address(alice_account), _address(charlie_account)
    for units in (6, 8, 9):
        testing.transfer(chain.usdc, alice_address, units * USDC)
    testing.transfer(chain.usdc, charlie_address, 12 * USDC)
    evm_scan("ethereum", w3=chain)
    assert ChainCursor.objects.get(network="ethereum").block_number == chain.eth.block_number
    before = (ChainDeposit.objects.count(), Transaction.objects.count(), _balance(alice_account))

    ChainCursor.objects.filter(network="ethereum").update(block_number=-1)  # rescan everything
    evm_scan("ethereum", w3=chain)
    evm_scan("ethereum", w3=chain)

    assert before == (4, 4, 23 * DOLLAR)
    assert (ChainDeposit.objects.count(), Transaction.objects.count(), _balance(alice_account)) == before
    assert _balance(charlie_account) == 12 * DOLLAR
    assert ledger_check().ok


def test_it_holds_deposits_under_five_dollars_until_the_total_reaches_five(chain, alice_account):
    address = _address(alice_account)
    testing.transfer(chain.usdc, address, 2 * USDC)
    testing.transfer(chain.usdc, address, 1_500_000)
    evm_scan("ethereum", w3=chain)

    assert set(ChainDeposit.objects.values_list("status", flat=True)) == {ChainDeposit.Status.BELOW_MINIMUM}
    assert _balance(alice_account) == 0

    testing.transfer(chain.usdc, address, 1_500_000)  # the total is now exactly $5.00
    evm_scan("ethereum", w3=chain)
    evm_scan("ethereum", w3=chain)

    assert set(ChainDeposit.objects.values_list("status", flat=True)) == {ChainDeposit.Status.CREDITED}
    assert _balance(alice_account) == 5 * DOLLAR
    keys = Transaction.objects.filter(kind=Transaction.Kind.CHAIN_DEPOSIT).values_list("idempotency_key", flat=True)
    assert len(keys) == len(set(keys)) == 3
    assert ledger_check().ok


def test_it_retries_a_node_that_fails_and_loses_nothing(chain, alice_account):
    address = _address(alice_account)
    testing.transfer(chain.usdc, address, 30 * USDC)
    chain.provider.failures = 3  # fewer than CHAIN_RPC_ATTEMPTS in a row

    evm_scan("ethereum", w3=chain)

    assert ChainDeposit.objects.get().status == ChainDeposit.Status.CREDITED
    assert _balance(alice_account) == 30 * DOLLAR
    assert ledger_check().ok


def test_it_stops_without_moving_the_cursor_when_the_node_stays_down(chain, alice_account):
    address = _address(alice_account)
    evm_scan("ethereum", w3=chain)
    cursor = ChainCursor.objects.get(network="ethereum").block_number
    testing.transfer(chain.usdc, address, 30 * USDC)
    chain.provider.failures = 1_000

    with pytest.raises(ChainRpcError):
        evm_scan("ethereum", w3=chain)

    assert ChainCursor.objects.get(network="ethereum").block_number == cursor
    chain.provider.failures = 0
    evm_scan("ethereum", w3=chain)
    assert _balance(alice_account) == 30 * DOLLAR
    assert ledger_check().ok


def test_it_ignores_zero_value_transfers_and_keeps_scanning(chain, alice_account):
    address = _address(alice_account)
    testing.transfer(chain.usdc, address, 0)  # address-poisoning spam looks like this
    testing.transfer(chain.usdc, address, 5 * USDC)

    evm_scan("ethereum", w3=chain)

    assert ChainDeposit.objects.get().amount_nanos == 5 * DOLLAR
    assert _balance(alice_account) == 5 * DOLLAR
    assert ledger_check().ok
