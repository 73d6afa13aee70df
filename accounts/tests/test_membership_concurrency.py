"""Two owners demoting each other at the same moment cannot leave an Account without an owner."""

import threading

import pytest
from django.db import connection

from accounts.models import Membership
from accounts.services import membership_remove, membership_role_change
from infer.errors import ApplicationError

pytestmark = pytest.mark.django_db(transaction=True)  # real commits, real row locks


def _race(*actions):
    barrier = threading.Barrier(len(actions))
    outcomes = []

    def run(action):
        try:
            barrier.wait()
            action()
            outcomes.append("ok")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


def test_it_keeps_one_owner_when_two_owners_step_down_at_once(alice_account, alice, bob):
    Membership.objects.filter(account=alice_account, user=bob).update(role="owner")
    a, b = (Membership.objects.get(account=alice_account, user=u) for u in (alice, bob))
    outcomes = _race(
        lambda: membership_role_change(membership=a, role="admin", acting=a),
        lambda: membership_role_change(membership=b, role="admin", acting=b),
    )
    assert outcomes == ["last_owner", "ok"]
    assert Membership.objects.filter(account=alice_account, role="owner").count() == 1


def test_it_keeps_one_owner_when_two_owners_leave_at_once(alice_account, alice, bob):
    Membership.objects.filter(account=alice_account, user=bob).update(role="owner")
    a, b = (Membership.objects.get(account=alice_account, user=u) for u in (alice, bob))
    outcomes = _race(
        lambda: membership_remove(membership=a, acting=a),
        lambda: membership_remove(membership=b, acting=b),
    )
    assert outcomes == ["last_owner", "ok"]
    assert Membership.objects.filter(account=alice_account, role="owner").count() == 1
