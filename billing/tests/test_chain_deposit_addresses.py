"""Deposit addresses: derived deterministically per Account and network (BIP-44), Solana only where the seed is."""

import pytest
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from django.core.exceptions import ImproperlyConfigured

from billing.chains import hd, services
from billing.models import DepositAddress

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"


def test_it_derives_ethereum_addresses_from_the_xpub_as_a_wallet_with_the_seed_would(alice_account):
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    expected = (
        Bip44.FromSeed(seed, Bip44Coins.ETHEREUM)
        .Purpose()
        .Coin()
        .Account(0)
        .Change(Bip44Changes.CHAIN_EXT)
        .AddressIndex(alice_account.id)
        .PublicKey()
        .ToAddress()
    )

    address = services.deposit_address_ensure(account=alice_account, network="ethereum")

    assert address.address == expected
    assert address.derivation_index == alice_account.id
    assert hd.evm_address("ethereum", 0) == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"  # the well-known vector


def test_it_gives_the_same_address_every_time_and_each_account_its_own(alice_account, charlie_account):
    first = services.deposit_addresses_ensure(account=alice_account)
    again = services.deposit_addresses_ensure(account=alice_account)
    charlie = services.deposit_addresses_ensure(account=charlie_account)

    assert [a.id for a in first] == [a.id for a in again]
    assert {a.network for a in first} == {"ethereum", "base", "solana"}
    assert not {a.address for a in first} & {a.address for a in charlie}
    assert DepositAddress.objects.count() == 6


def test_it_uses_the_solana_wallet_path_and_its_usdc_token_account(alice_account):
    wallet = services.deposit_address_ensure(account=alice_account, network="solana")

    assert hd.solana_address(0) == "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"  # m/44'/501'/0'/0' vector
    assert wallet.address == hd.solana_address(alice_account.id)
    assert wallet.token_account == hd.solana_token_account(
        wallet.address, "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    )


def test_it_leaves_solana_to_the_worker_when_the_web_tier_has_no_seed(alice_account, settings):
    settings.DEPOSIT_SEED_SOLANA = ""

    assert services.deposit_address_ensure(account=alice_account, network="solana") is None
    assert services.deposit_address_ensure(account=alice_account, network="base") is not None
    assert not DepositAddress.objects.filter(network="solana").exists()


def test_it_refuses_an_xpub_that_is_not_account_level(settings):
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    settings.DEPOSIT_XPUB_ETHEREUM = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().PublicKey().ToExtended()

    with pytest.raises(ImproperlyConfigured):
        hd.evm_address("ethereum", 1)
