"""Two payout requests at once on the same earnings: only one may hold them (real concurrent transactions)."""

import threading

import pytest
from django.db import connection

from accounts.models import Membership
from billing.selectors import operator_ledger_account
from infer.errors import ApplicationError
from payouts import services
from payouts.models import Payout

from .conftest import USD, assert_ledger_ok, code_now, totp_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_lets_only_one_of_two_simultaneous_requests_hold_the_same_earnings(operator, alice, bob, destination):
    Membership.objects.filter(account=operator, user=bob).update(role=Membership.Role.ADMIN)
    codes = {alice.id: code_now(totp_for(alice)), bob.id: code_now(totp_for(bob))}
    barrier = threading.Barrier(2)
    outcomes = []

    def request(user):
        try:
            barrier.wait()
            services.payout_request(
                account=operator,
                user=user,
                destination=destination,
                amount_nanos=60 * USD,
                totp_code=codes[user.id],
                idempotency_key=f"race-{user.id}",
            )
            outcomes.append("ok")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(user,)) for user in (alice, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["insufficient_earnings", "ok"]
    assert Payout.objects.count() == 1
    assert operator_ledger_account(account=operator).held_nanos == 60 * USD
    assert_ledger_ok()
