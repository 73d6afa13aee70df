"""Holds: admission against the available balance, release exactly once, expiry of dead requests."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from billing.checks import ledger_check
from billing.models import Hold, LedgerAccount
from billing.selectors import balance_summary, buyer_ledger_account
from billing.services import (
    AdmissionRefused,
    Posting,
    hold_place,
    hold_release,
    holds_expire,
    system_ledger_account_id,
    transactions_post,
)
from conftest import fund

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_writer")]


@pytest.fixture
def buyer(alice_account):
    fund(alice_account, 1_000, key="fund")
    return buyer_ledger_account(account=alice_account)


def test_a_hold_reduces_what_is_available(buyer, alice_account):
    hold_place(ledger_account_id=buyer.id, amount_nanos=600, key="request:1")
    summary = balance_summary(account=alice_account)
    assert summary["balance_nanos"] == 1_000
    assert summary["held_nanos"] == 600
    assert summary["available_nanos"] == 400
    assert summary["in_flight"] == 1


def test_admission_is_refused_once_holds_cover_the_balance(buyer):
    hold_place(ledger_account_id=buyer.id, amount_nanos=600, key="request:1")
    hold_place(ledger_account_id=buyer.id, amount_nanos=600, key="request:2")  # available was 400 > 0
    with pytest.raises(AdmissionRefused) as refused:
        hold_place(ledger_account_id=buyer.id, amount_nanos=1, key="request:3")
    assert refused.value.code == "insufficient_balance" and refused.value.status_code == 402
    assert not Hold.objects.filter(key="request:3").exists()


def test_a_zero_balance_is_refused(alice_account):
    buyer = buyer_ledger_account(account=alice_account)
    with pytest.raises(AdmissionRefused, match="add funds"):
        hold_place(ledger_account_id=buyer.id, amount_nanos=1, key="request:1")


@override_settings(MAX_IN_FLIGHT_PER_ACCOUNT=2)
def test_admission_is_refused_past_the_in_flight_limit(buyer):
    hold_place(ledger_account_id=buyer.id, amount_nanos=1, key="request:1")
    hold_place(ledger_account_id=buyer.id, amount_nanos=1, key="request:2")
    with pytest.raises(AdmissionRefused) as refused:
        hold_place(ledger_account_id=buyer.id, amount_nanos=1, key="request:3")
    assert refused.value.code == "in_flight_limit"


def test_settlement_releases_its_hold_exactly_once(buyer):
    hold = hold_place(ledger_account_id=buyer.id, amount_nanos=600, key="request:1")
    posting = Posting(
        "usage:1",
        "usage",
        ((buyer.id, -250), (system_ledger_account_id("platform:revenue"), 250)),
        release_hold_id=hold.id,
    )
    transactions_post([posting])
    transactions_post([posting])  # a replay releases nothing more
    assert not hold_release(hold_id=hold.id)
    account = LedgerAccount.objects.get(id=buyer.id)
    assert (account.balance_nanos, account.held_nanos, account.in_flight) == (750, 0, 0)
    assert ledger_check().ok


def test_expired_holds_of_dead_requests_are_released(buyer):
    hold_place(ledger_account_id=buyer.id, amount_nanos=600, key="request:1", ttl_seconds=60)
    hold_place(ledger_account_id=buyer.id, amount_nanos=100, key="request:2", ttl_seconds=3600)
    assert not ledger_check(now=timezone.now() + timedelta(minutes=5)).ok  # a stale hold is a problem
    assert holds_expire(now=timezone.now() + timedelta(minutes=2)) == 1
    account = LedgerAccount.objects.get(id=buyer.id)
    assert (account.held_nanos, account.in_flight) == (100, 1)
    assert Hold.objects.get(key="request:1").released_at is not None
    assert ledger_check().ok


def test_a_negative_hold_is_refused(buyer):
    from billing.services import LedgerError

    with pytest.raises(LedgerError):
        hold_place(ledger_account_id=buyer.id, amount_nanos=-5, key="request:neg")
    assert not Hold.objects.exists()
