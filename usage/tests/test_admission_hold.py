"""billing.services.hold_place_request: the gateway's one-statement admission keeps hold_place's rule."""

import pytest
from django.db import transaction

from billing.checks import ledger_check
from billing.models import Hold, LedgerAccount
from billing.selectors import buyer_ledger_account
from billing.services import AdmissionRefused, hold_place_request, holds_expire
from conftest import fund

pytestmark = pytest.mark.django_db(transaction=True)


def _ledger(account) -> LedgerAccount:
    return buyer_ledger_account(account=account)


def test_it_admits_while_the_available_balance_is_positive_and_then_refuses(alice_account):
    fund(alice_account, 1_000)
    ledger = _ledger(alice_account)
    first = hold_place_request(ledger_account_id=ledger.id, amount_nanos=600, key="request:a")
    second = hold_place_request(ledger_account_id=ledger.id, amount_nanos=600, key="request:b")  # 400 left > 0
    with pytest.raises(AdmissionRefused) as caught:
        hold_place_request(ledger_account_id=ledger.id, amount_nanos=1, key="request:c")  # -200 left
    assert caught.value.code == "insufficient_balance"
    ledger.refresh_from_db()
    assert (ledger.held_nanos, ledger.in_flight) == (1_200, 2)
    assert set(Hold.objects.values_list("id", flat=True)) == {first, second}
    assert ledger_check().ok


def test_it_refuses_past_the_in_flight_limit(alice_account, settings):
    fund(alice_account, 1_000_000)
    settings.MAX_IN_FLIGHT_PER_ACCOUNT = 1
    ledger = _ledger(alice_account)
    hold_place_request(ledger_account_id=ledger.id, amount_nanos=1, key="request:a")
    with pytest.raises(AdmissionRefused) as caught:
        hold_place_request(ledger_account_id=ledger.id, amount_nanos=1, key="request:b")
    assert caught.value.code == "in_flight_limit"


def test_inside_a_callers_transaction_it_commits_or_rolls_back_with_it(alice_account):
    fund(alice_account, 1_000)
    ledger = _ledger(alice_account)
    with pytest.raises(RuntimeError), transaction.atomic():
        hold_place_request(ledger_account_id=ledger.id, amount_nanos=10, key="request:a")
        raise RuntimeError("the caller gives up")
    ledger.refresh_from_db()
    assert (ledger.held_nanos, ledger.in_flight) == (0, 0) and not Hold.objects.exists()
    with transaction.atomic():
        hold_place_request(ledger_account_id=ledger.id, amount_nanos=10, key="request:b")
    ledger.refresh_from_db()
    assert ledger.held_nanos == 10 and Hold.objects.get().key == "request:b"


def test_its_holds_expire_like_any_other(alice_account, settings):
    fund(alice_account, 1_000)
    settings.HOLD_TIMEOUT_SECONDS = 0
    ledger = _ledger(alice_account)
    hold_place_request(ledger_account_id=ledger.id, amount_nanos=10, key="request:a")
    assert holds_expire() == 1
    ledger.refresh_from_db()
    assert (ledger.held_nanos, ledger.in_flight) == (0, 0)
    assert ledger_check().ok
