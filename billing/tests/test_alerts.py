"""Low-balance alerts from ledger changes: once per downward crossing, emails over real SMTP."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from celery.exceptions import Retry
from django.db import connection

from accounts.models import Membership, User
from billing.alerts import Threshold, alert_preference_set
from billing.checks import ledger_check
from billing.models import Notification
from billing.selectors import buyer_ledger_account
from billing.services import system_ledger_account_id, transaction_post
from conftest import fund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ledger_writer")]

USD = 1_000_000_000


def spend(account, nanos, key):
    buyer = buyer_ledger_account(account=account).id
    return transaction_post(
        idempotency_key=key, kind="usage", legs=[(buyer, -nanos), (system_ledger_account_id("platform:revenue"), nanos)]
    )


def thresholds_fired(account):
    return list(Notification.objects.filter(account=account).order_by("id").values_list("threshold_nanos", flat=True))


def test_threshold_crossing_rules():
    below_five = Threshold(5 * USD, email=True, desktop=False, inclusive=False)
    assert below_five.crossed(5 * USD, 5 * USD - 1)
    assert not below_five.crossed(5 * USD - 1, 1)  # already below: no new crossing
    assert not below_five.crossed(6 * USD, 5 * USD)  # at $5 is not below $5
    zero = Threshold(0, email=False, desktop=True, inclusive=True)
    assert zero.crossed(1, 0) and zero.crossed(1, -5) and not zero.crossed(0, -1)


def test_crossing_5_then_1_then_0_sends_the_right_emails_once_each(alice_account, bob, smtp_server):
    Membership.objects.filter(account=alice_account, user=bob).update(role=Membership.Role.ADMIN)
    member = User.objects.create_user(email="dana@example.com", password="x")
    Membership.objects.create(account=alice_account, user=member, role=Membership.Role.MEMBER)
    fund(alice_account, 6 * USD, key="fund")
    spend(alice_account, USD + 1, "u1")  # $6 -> $4.999999999: below $5
    spend(alice_account, USD, "u2")  # still below $5, above $1: nothing new
    spend(alice_account, 3 * USD, "u3")  # -> $0.999999999: below $1
    spend(alice_account, USD, "u4")  # -> -$0.000000001: used up
    assert thresholds_fired(alice_account) == [5 * USD, USD, 0]
    rows = {n.threshold_nanos: n for n in Notification.objects.filter(account=alice_account)}
    assert rows[5 * USD].email_status == "sent" and not rows[5 * USD].desktop
    assert rows[USD].email_status == "sent" and rows[USD].desktop
    assert rows[0].email_status == "none" and rows[0].desktop
    assert rows[0].balance_nanos == -1
    # Owners and admins get the email; plain members do not.
    assert [m["to"] for m in smtp_server.messages] == [["alice@example.com", "bob@example.com"]] * 2
    assert [m["subject"] for m in smtp_server.messages] == [
        "[INFER] Balance below $5.00 for Alice's team",
        "[INFER] Balance below $1.00 for Alice's team",
    ]
    body = smtp_server.messages[0]["message"].get_payload(0).get_payload(decode=True).decode()
    assert "It is now $4.99." in body and "/funds/" in body
    assert ledger_check().ok


def test_a_deposit_re_arms_the_thresholds(alice_account, smtp_server):
    fund(alice_account, 6 * USD, key="fund")
    spend(alice_account, 2 * USD, "u1")
    fund(alice_account, 3 * USD, key="deposit")  # back above $5
    spend(alice_account, 3 * USD, "u2")  # below $5 again
    assert thresholds_fired(alice_account) == [5 * USD, 5 * USD]
    assert len(smtp_server.messages) == 2


def test_one_batch_crossing_two_thresholds_fires_both(alice_account, smtp_server):
    fund(alice_account, 6 * USD, key="fund")
    spend(alice_account, int(5.5 * USD), "u1")
    assert thresholds_fired(alice_account) == [5 * USD, USD]


def test_50_concurrent_debits_crossing_together_fire_once(alice_account, smtp_server):
    fund(alice_account, 5 * USD + 25 * 10_000_000, key="fund")  # $5.25

    def debit(i):
        try:
            spend(alice_account, 10_000_000, f"u{i}")  # 1 cent each: $5.25 -> $4.75
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(debit, range(50)))
    assert thresholds_fired(alice_account) == [5 * USD]
    assert len(smtp_server.messages) == 1
    assert ledger_check().ok


def test_an_opted_out_member_gets_no_email(alice_account, alice, bob, smtp_server):
    Membership.objects.filter(account=alice_account, user=bob).update(role=Membership.Role.ADMIN)
    alert_preference_set(user=alice, account=alice_account, low_balance_email=False)
    fund(alice_account, 6 * USD, key="fund")
    spend(alice_account, 2 * USD, "u1")
    assert [m["to"] for m in smtp_server.messages] == [["bob@example.com"]]


def test_an_smtp_failure_is_retried_and_the_email_sent_once(alice_account, smtp_server):
    from billing.tasks import alert_email_send

    smtp_server.fail_next = 2
    fund(alice_account, 6 * USD, key="fund")
    spend(alice_account, 2 * USD, "u1")  # the first attempt gets a 451
    notification = Notification.objects.get(account=alice_account)
    assert (notification.email_status, notification.email_attempts) == ("pending", 1)
    # What the worker's retries do (eager tasks in tests do not re-run themselves):
    with pytest.raises(Retry):
        alert_email_send.apply(args=[notification.id])
    assert alert_email_send.apply(args=[notification.id]).get() == "sent"
    assert alert_email_send.apply(args=[notification.id]).get() == "not pending"
    notification.refresh_from_db()
    assert (notification.email_status, notification.email_attempts) == ("sent", 3)
    assert len(smtp_server.messages) == 1


def test_deposits_and_operator_earnings_fire_nothing(alice_account, smtp_server):
    fund(alice_account, 3 * USD, key="fund")  # upward from $0: no crossing downward
    assert not Notification.objects.exists()
