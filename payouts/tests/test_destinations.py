"""Payout destinations: address validation per network, bank details, the 24-hour lock and its restart."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from infer.errors import ApplicationError
from payouts.addresses import address_normalize
from payouts.models import PayoutDestination
from payouts.services import destination_change, destination_create

from .conftest import OTHER_WALLET, SOLANA_WALLET, WALLET

pytestmark = pytest.mark.django_db


def test_it_accepts_checksummed_evm_addresses():
    assert address_normalize(network="ethereum", address=f"  {WALLET} ") == WALLET
    assert address_normalize(network="base", address=OTHER_WALLET) == OTHER_WALLET


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("", "Enter the wallet address"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", "expected 0x followed by 40 hexadecimal characters"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAEd", "checksum (EIP-55 capitalisation) does not match"),
        (WALLET.lower(), "with its EIP-55 checksum"),
        ("0x" + "0" * 40, "with its EIP-55 checksum"),
        (SOLANA_WALLET, "expected 0x followed by 40 hexadecimal characters"),
    ],
)
def test_it_refuses_bad_evm_addresses(address, message):
    with pytest.raises(ApplicationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        address_normalize(network="ethereum", address=address)


def test_it_accepts_solana_public_keys():
    assert address_normalize(network="solana", address=SOLANA_WALLET) == SOLANA_WALLET


@pytest.mark.parametrize("address", ["abc", SOLANA_WALLET + "1", "0OIl" + SOLANA_WALLET[4:], WALLET])
def test_it_refuses_bad_solana_addresses(address):
    with pytest.raises(ApplicationError, match="Solana address"):
        address_normalize(network="solana", address=address)


def test_it_adds_a_wallet_locked_for_24_hours_and_emails_the_owners(
    operator, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        destination = destination_create(
            account=operator, user=alice, kind="usdc_wallet", network="base", address=WALLET
        )

    assert destination.is_locked()
    assert destination.unlocks_at() == destination.created_at + timedelta(hours=24)
    assert not destination.is_locked(timezone.now() + timedelta(hours=24, seconds=1))
    assert mail.outbox[-1].subject == "[INFER] New payout destination added"
    assert mail.outbox[-1].to == ["alice@example.com"]


def test_it_restarts_the_lock_when_the_address_changes(operator, alice, destination):
    assert not destination.is_locked()
    renamed = destination_change(
        destination=destination, user=alice, label="Cold wallet", network="ethereum", address=WALLET
    )
    assert not renamed.is_locked()  # a new label alone moves no money

    changed = destination_change(destination=destination, user=alice, network="ethereum", address=OTHER_WALLET)
    assert changed.address == OTHER_WALLET
    assert changed.is_locked()


def test_it_validates_bank_destinations(operator, alice):
    stripe = destination_create(
        account=operator, user=alice, kind="stripe_connect", stripe_account_id="acct_1Nv0FGQ9RKHgCVdK"
    )
    manual = destination_create(
        account=operator,
        user=alice,
        kind="manual_bank",
        bank_holder_name="Alice Example",
        bank_iban="de89 3704 0044 0532 0130 00",
        bank_bic="cobadeffxxx",
    )
    assert stripe.describe() == "Bank via Stripe (acct_1Nv0FGQ9RKHgCVdK)"
    assert manual.bank_iban == "DE89370400440532013000"
    with pytest.raises(ApplicationError, match="Stripe Connect account id"):
        destination_create(account=operator, user=alice, kind="stripe_connect", stripe_account_id="1234")
    with pytest.raises(ApplicationError, match="IBAN or account number"):
        destination_create(account=operator, user=alice, kind="manual_bank", bank_holder_name="A", bank_iban="1")
    with pytest.raises(ApplicationError, match="network"):
        destination_create(account=operator, user=alice, kind="usdc_wallet", network="bitcoin", address=WALLET)
    assert PayoutDestination.objects.count() == 2


def test_it_lets_only_owners_and_admins_of_operator_accounts_add_destinations(operator, bob, alice_account):
    with pytest.raises(ApplicationError, match="owners and admins"):
        destination_create(account=operator, user=bob, kind="usdc_wallet", network="base", address=WALLET)


def test_it_refuses_destinations_for_buyer_only_accounts(alice_account, alice):
    with pytest.raises(ApplicationError, match="Only operator accounts"):
        destination_create(account=alice_account, user=alice, kind="usdc_wallet", network="base", address=WALLET)
