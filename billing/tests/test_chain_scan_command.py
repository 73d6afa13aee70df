"""`manage.py chain_scan`: scan now, and rescan an EVM network from a block without crediting twice."""

import pytest
from django.core.management import CommandError, call_command

from billing.chains import services, testing
from billing.checks import ledger_check
from billing.models import ChainCursor, ChainDeposit, Transaction


def test_it_rescans_from_a_block_and_credits_nothing_twice(hardhat, alice_account, settings, capsys):
    usdc = testing.deploy_token(hardhat)
    settings.CHAIN_USDC_ETHEREUM = usdc.address
    address = services.deposit_address_ensure(account=alice_account, network="ethereum").address
    testing.transfer(usdc, address, 8_000_000)
    call_command("chain_scan", "ethereum")

    call_command("chain_scan", "ethereum", "--from-block", "0")

    assert ChainCursor.objects.get(network="ethereum").block_number == hardhat.eth.block_number
    assert ChainDeposit.objects.get().status == ChainDeposit.Status.CREDITED
    assert Transaction.objects.filter(kind="chain_deposit").count() == 1
    assert "ethereum: ScanReport" in capsys.readouterr().out
    assert ledger_check().ok


def test_it_says_when_a_network_has_no_rpc_url(db, settings, capsys):
    settings.CHAIN_BASE_RPC_URL = ""

    call_command("chain_scan", "base")

    assert "not scanned" in capsys.readouterr().out


def test_it_refuses_a_block_rescan_on_solana(db):
    with pytest.raises(CommandError, match="EVM networks"):
        call_command("chain_scan", "solana", "--from-block", "5")
