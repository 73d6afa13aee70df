"""A request that died after admission leaves a hold; the periodic expiry releases it at no cost."""

import json

import pytest
import time_machine
from django.utils import timezone

from billing.checks import ledger_check
from billing.models import Hold, LedgerAccount
from billing.tasks import holds_expire
from conftest import fund
from usage.services import request_admit

from .conftest import CHEAP_MODEL

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_expiry_task_releases_the_hold_of_a_request_that_never_settled(alice_key, alice_account, node, settings):
    fund(alice_account, 1_000_000_000)
    body = json.dumps({"model": CHEAP_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10})
    admission = request_admit(authorization=f"Bearer {alice_key.secret}", body=body.encode(), endpoint="chat")
    ledger = LedgerAccount.objects.get(id=admission.buyer_ledger_id)
    assert ledger.held_nanos == admission.hold_nanos == admission.prompt_tokens * 100 + 10 * 150
    assert ledger.in_flight == 1

    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=settings.HOLD_TIMEOUT_SECONDS + 1)):
        assert holds_expire.delay().get() == 1
    ledger.refresh_from_db()
    assert ledger.held_nanos == 0 and ledger.in_flight == 0 and ledger.balance_nanos == 1_000_000_000
    assert Hold.objects.get().released_at is not None
    assert ledger_check().ok
