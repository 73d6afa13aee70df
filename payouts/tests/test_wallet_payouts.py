"""USDC wallet payouts end to end on a local EVM chain (eth-tester, in process) with the repository's TestUSDC."""

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.utils import timezone
from web3 import Web3

from billing.chains.testing import balance_of, deploy_token, eth_tester_web3, mint
from billing.selectors import operator_ledger_account
from billing.services import ledger_rollup
from payouts import evm, services, tasks, wallet
from payouts.models import HotWalletNonce, Payout

from .conftest import OTHER_WALLET, USD, WALLET, assert_ledger_ok, code_now, unlocked_destination

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(settings):
    """A fresh chain with TestUSDC; the hot wallet is the node's second account, holding 1,000 USDC."""
    w3 = eth_tester_web3()
    token = deploy_token(w3)
    key = w3.provider.ethereum_tester.backend.account_keys[1]
    hot = w3.eth.accounts[1]
    settings.PAYOUT_HOT_WALLET_PRIVATE_KEY = key.to_hex()
    settings.PAYOUT_EVM_NETWORKS = {
        "ethereum": {"rpc_url": "", "usdc": token.address},
        "base": {"rpc_url": "", "usdc": token.address},
    }
    evm.clients["ethereum"] = w3
    mint(token, hot, 1000 * 10**6)
    yield SimpleNamespace(w3=w3, token=token, hot=hot, key=key.to_hex())
    evm.clients.clear()


def transfers_to(chain, address):
    """Every Transfer event of the token into `address`: the proof it arrived, and how many times."""
    return chain.token.events.Transfer().get_logs(
        from_block=0, argument_filters={"to": Web3.to_checksum_address(address)}
    )


def approved_payout(operator, alice, secret, destination, finance_user, amount_nanos=30 * USD, key="k"):
    payout, _ = services.payout_request(
        account=operator,
        user=alice,
        destination=destination,
        amount_nanos=amount_nanos,
        totp_code=code_now(secret),
        idempotency_key=key,
    )
    return services.payout_approve(payout=payout, staff_user=finance_user)


def test_it_sends_usdc_and_marks_it_paid_once_final(
    chain, operator, alice, alice_totp, destination, finance_user, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        # Approval queues the send (eager in tests): sign, record, broadcast, mark sent.
        payout = approved_payout(operator, alice, alice_totp, destination, finance_user)
    payout.refresh_from_db()
    assert payout.status == "sent"
    assert payout.tx_hash and payout.signed_tx and payout.tx_nonce is not None
    assert payout.from_address == chain.hot
    assert payout.token_units == 30 * 10**6
    assert balance_of(chain.token, WALLET) == 30 * 10**6

    with django_capture_on_commit_callbacks(execute=True):
        tasks.payouts_confirm()
    payout.refresh_from_db()
    assert payout.status == "paid"
    assert payout.block_number is not None
    assert len(transfers_to(chain, WALLET)) == 1
    ledger_rollup()
    assert operator_ledger_account(account=operator).balance_nanos == 70 * USD
    assert operator_ledger_account(account=operator).held_nanos == 0
    assert_ledger_ok()
    assert chain.key.removeprefix("0x") not in caplog.text


def test_it_finds_its_transfer_when_the_worker_died_after_broadcasting(
    chain, operator, alice, alice_totp, destination, finance_user
):
    payout = approved_payout(operator, alice, alice_totp, destination, finance_user)
    # The worker's first two steps, then it "dies" before recording that the payout was sent.
    wallet.payout_wallet_sign(payout_id=payout.id)
    wallet.payout_wallet_broadcast(payout_id=payout.id)
    assert Payout.objects.get(id=payout.id).status == "approved"
    assert balance_of(chain.token, WALLET) == 30 * 10**6

    # The task runs again (Celery redelivers it; the beat sweep would too), twice for good measure.
    tasks.payout_process(payout.id)
    tasks.payout_process(payout.id)
    tasks.payouts_confirm()

    payout.refresh_from_db()
    assert payout.status == "paid"
    assert balance_of(chain.token, WALLET) == 30 * 10**6
    assert len(transfers_to(chain, WALLET)) == 1
    assert chain.w3.eth.get_transaction_count(chain.hot) == 1  # one transaction ever left the hot wallet
    assert_ledger_ok()


def test_it_broadcasts_the_recorded_transfer_when_the_worker_died_after_signing(
    chain, operator, alice, alice_totp, destination, finance_user
):
    payout = approved_payout(operator, alice, alice_totp, destination, finance_user)
    signed = wallet.payout_wallet_sign(payout_id=payout.id)
    assert balance_of(chain.token, WALLET) == 0

    tasks.payout_process(payout.id)

    payout.refresh_from_db()
    assert payout.status == "sent"
    assert payout.tx_hash == signed.tx_hash
    assert len(transfers_to(chain, WALLET)) == 1
    assert balance_of(chain.token, WALLET) == 30 * 10**6


def test_it_gives_each_payout_its_own_nonce(chain, operator, alice, alice_totp, destination, finance_user):
    second = unlocked_destination(operator, alice, network="ethereum", address=OTHER_WALLET)
    first = approved_payout(operator, alice, alice_totp, destination, finance_user, key="a")
    # Two signings before either is broadcast: the node's pending nonce has not moved yet.
    wallet.payout_wallet_sign(payout_id=first.id)
    with time_machine.travel(timezone.now() + timedelta(seconds=30), tick=True):  # the next TOTP window, so a new code
        other = approved_payout(operator, alice, alice_totp, second, finance_user, amount_nanos=20 * USD, key="b")
    wallet.payout_wallet_sign(payout_id=other.id)

    nonces = sorted(Payout.objects.values_list("tx_nonce", flat=True))
    assert nonces == [0, 1]
    assert HotWalletNonce.objects.get(network="ethereum").next_nonce == 2
    tasks.payout_process(first.id)
    tasks.payout_process(other.id)
    tasks.payouts_confirm()
    assert balance_of(chain.token, WALLET) == 30 * 10**6
    assert balance_of(chain.token, OTHER_WALLET) == 20 * 10**6
    assert set(Payout.objects.values_list("status", flat=True)) == {"paid"}
    assert_ledger_ok()


def test_it_fails_and_returns_the_earnings_when_the_transfer_cannot_go_through(
    chain, operator, alice, alice_totp, destination, finance_user, settings
):
    settings.PAYOUT_HOT_WALLET_PRIVATE_KEY = chain.w3.provider.ethereum_tester.backend.account_keys[2].to_hex()
    # The third account holds no USDC: the token's transfer reverts.
    payout = approved_payout(operator, alice, alice_totp, destination, finance_user)
    tasks.payout_process(payout.id)
    tasks.payouts_confirm()

    payout.refresh_from_db()
    assert payout.status == "failed"
    assert payout.reason == "The USDC transfer reverted on chain"
    assert balance_of(chain.token, WALLET) == 0
    ledger_rollup()
    earnings = operator_ledger_account(account=operator)
    assert earnings.balance_nanos == 100 * USD
    assert earnings.held_nanos == 0
    assert_ledger_ok()


def test_it_leaves_the_payout_approved_while_the_chain_is_unreachable(
    chain, operator, alice, alice_totp, destination, finance_user
):
    payout = approved_payout(operator, alice, alice_totp, destination, finance_user)
    evm.clients.clear()  # no RPC URL configured: unreachable

    assert tasks.payout_process(payout.id) == "approved"
    assert Payout.objects.get(id=payout.id).signed_tx == ""


def test_it_fails_a_transfer_the_node_refuses_at_the_first_broadcast_and_returns_the_nonce(
    chain, operator, alice, alice_totp, destination, finance_user, settings
):
    from eth_account import Account

    broke = Account.from_key("0x" + "42" * 32)  # no ether for gas
    settings.PAYOUT_HOT_WALLET_PRIVATE_KEY = "0x" + "42" * 32
    payout = approved_payout(operator, alice, alice_totp, destination, finance_user)
    tasks.payout_process(payout.id)

    payout.refresh_from_db()
    assert payout.status == "failed"
    assert payout.reason.startswith("The network refused the USDC transfer:")
    assert payout.from_address == broke.address
    assert HotWalletNonce.objects.get(address=broke.address).next_nonce == 0
    assert operator_ledger_account(account=operator).held_nanos == 0
    assert_ledger_ok()


def test_it_keeps_waiting_when_a_refused_transfer_may_still_be_out_there(
    chain, operator, alice, alice_totp, destination, finance_user, settings
):
    settings.PAYOUT_HOT_WALLET_PRIVATE_KEY = "0x" + "42" * 32
    payout = approved_payout(operator, alice, alice_totp, destination, finance_user)
    wallet.payout_wallet_sign(payout_id=payout.id)
    # An earlier attempt claimed the broadcast, then its worker died: a copy may be in some pool.
    Payout.objects.filter(id=payout.id).update(broadcast_at=timezone.now())

    tasks.payout_process(payout.id)

    payout.refresh_from_db()
    assert payout.status == "approved"
    assert operator_ledger_account(account=operator).held_nanos == 30 * USD


def test_it_fails_a_transfer_whose_nonce_another_transaction_took(
    chain, operator, alice, alice_totp, destination, finance_user
):
    payout = approved_payout(operator, alice, alice_totp, destination, finance_user)
    wallet.payout_wallet_sign(payout_id=payout.id)
    Payout.objects.filter(id=payout.id).update(broadcast_at=timezone.now())
    # Someone used the hot wallet by hand: nonce 0 is gone, so the recorded transfer can never be mined.
    chain.w3.eth.send_transaction({"from": chain.hot, "to": chain.w3.eth.accounts[3], "value": 1})

    tasks.payout_process(payout.id)

    payout.refresh_from_db()
    assert payout.status == "failed"
    assert balance_of(chain.token, WALLET) == 0
    assert operator_ledger_account(account=operator).held_nanos == 0
    assert_ledger_ok()
