"""Scans of several networks crediting the same Account at once still credit each deposit exactly once."""

import threading

import pytest
from django.db import connection

from billing.chains import services
from billing.chains.services import ObservedTransfer
from billing.checks import ledger_check
from billing.models import ChainDeposit, Transaction
from billing.selectors import buyer_ledger_account

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_credits_each_deposit_once_when_scans_race(alice_account):
    for network in ("ethereum", "base", "solana"):
        address = services.deposit_address_ensure(account=alice_account, network=network)
        services.chain_deposits_record(
            network=network,
            transfers=[
                ObservedTransfer(
                    tx_hash=f"tx-{network}-{i}",
                    log_index="0",
                    from_address="sender",
                    to_address=address.address,
                    amount_units=2_000_000,  # $2 each: only together do they pass the $5 minimum
                    block_number=i,
                    finalized=True,
                )
                for i in range(3)
            ],
        )
    start = threading.Barrier(4)
    errors = []

    def credit():
        try:
            start.wait()
            services.chain_deposits_credit()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=credit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert ChainDeposit.objects.filter(status=ChainDeposit.Status.CREDITED).count() == 9
    assert Transaction.objects.filter(kind="chain_deposit").count() == 9
    assert buyer_ledger_account(account=alice_account).balance_nanos == 18_000_000_000
    assert ledger_check().ok
