"""The ledger after each path of a payout: paid, rejected, failed before and after sent; each step once."""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from billing.models import Entry, LedgerAccount, Transaction
from billing.selectors import ledger_account_balance, operator_ledger_account
from billing.services import ledger_rollup, system_ledger_account_id
from infer.errors import ApplicationError
from payouts import services
from payouts.models import Payout

from .conftest import USD, assert_ledger_ok, code_now, unlocked_destination, verify_kyc

pytestmark = pytest.mark.django_db


def request(account, user, secret, destination, amount_nanos=30 * USD, key="k"):
    payout, _ = services.payout_request(
        account=account,
        user=user,
        destination=destination,
        amount_nanos=amount_nanos,
        totp_code=code_now(secret),
        idempotency_key=key,
    )
    return payout


def balance(key_or_account):
    if isinstance(key_or_account, str):
        return ledger_account_balance(LedgerAccount.objects.get(id=system_ledger_account_id(key_or_account)))
    return ledger_account_balance(operator_ledger_account(account=key_or_account))


def payout_entries(payout):
    return {
        t.idempotency_key: sorted((e.ledger_account.key, e.amount_nanos) for e in t.entries.all())
        for t in Transaction.objects.filter(reference=f"payout:{payout.code}").prefetch_related(
            "entries__ledger_account"
        )
    }


@pytest.fixture
def bank(operator, alice):
    return unlocked_destination(
        operator,
        alice,
        kind="manual_bank",
        bank_holder_name="Alice Example",
        bank_iban="DE89 3704 0044 0532 0130 00",
        bank_bic="COBADEFFXXX",
    )


def test_it_pays_a_manual_bank_payout_through_clearing(
    operator, alice, alice_totp, bank, finance_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        payout = request(operator, alice, alice_totp, bank)
        services.payout_approve(payout=payout, staff_user=finance_user)
        paid = services.payout_mark_paid(payout=payout, staff_user=finance_user, reference="SEPA-2026-0001")

    assert paid.status == "paid"
    assert paid.approved_by == finance_user
    assert paid.external_reference == "SEPA-2026-0001"
    assert balance(operator) == 70 * USD
    assert operator_ledger_account(account=operator).held_nanos == 0
    assert balance("clearing:payouts") == 0
    assert balance("payouts:sent") == 30 * USD
    earnings_key = f"operator:{operator.id}"
    assert payout_entries(paid) == {
        f"payout:{paid.id}:sent": sorted([(earnings_key, -30 * USD), ("clearing:payouts", 30 * USD)]),
        f"payout:{paid.id}:paid": sorted([("clearing:payouts", -30 * USD), ("payouts:sent", 30 * USD)]),
    }
    assert [m.subject for m in mail.outbox if "Payout" in m.subject] == [
        "[INFER] Payout of $30.00 requested",
        "[INFER] Payout of $30.00 approved",
        "[INFER] Payout of $30.00 sent",
        "[INFER] Payout of $30.00 paid",
    ]
    assert "SEPA-2026-0001" in mail.outbox[-1].body
    assert mail.outbox[-1].alternatives[0][1] == "text/html"
    ledger_rollup()
    assert_ledger_ok()
    out = StringIO()
    call_command("check_ledger", stdout=out)  # exits non-zero on any problem
    assert "Ledger OK" in out.getvalue()


def test_it_posts_each_step_once_when_repeated(operator, alice, alice_totp, bank, finance_user):
    payout = request(operator, alice, alice_totp, bank)
    services.payout_approve(payout=payout, staff_user=finance_user)
    services.payout_mark_sent(payout=payout)
    services.payout_mark_sent(payout=payout)  # a resumed worker
    services.payout_mark_paid(payout=payout)
    services.payout_mark_paid(payout=payout)

    assert Transaction.objects.filter(reference=f"payout:{payout.code}").count() == 2
    assert balance(operator) == 70 * USD
    assert balance("payouts:sent") == 30 * USD
    assert_ledger_ok()


def test_it_releases_the_hold_when_rejected(
    operator, alice, alice_totp, bank, finance_user, django_capture_on_commit_callbacks
):
    payout = request(operator, alice, alice_totp, bank)
    with django_capture_on_commit_callbacks(execute=True):
        rejected = services.payout_reject(
            payout=payout, staff_user=finance_user, reason="Bank details do not match the KYC name"
        )

    assert rejected.status == "rejected"
    assert rejected.reason == "Bank details do not match the KYC name"
    assert payout_entries(rejected) == {}
    assert balance(operator) == 100 * USD
    assert operator_ledger_account(account=operator).held_nanos == 0
    assert rejected.hold.__class__.objects.get(id=rejected.hold_id).released_at is not None
    assert mail.outbox[-1].subject == "[INFER] Payout of $30.00 rejected"
    assert "Bank details do not match the KYC name" in mail.outbox[-1].body
    assert_ledger_ok()


def test_it_needs_a_reason_to_reject(operator, alice, alice_totp, bank, finance_user):
    payout = request(operator, alice, alice_totp, bank)
    with pytest.raises(ApplicationError, match="reason"):
        services.payout_reject(payout=payout, staff_user=finance_user, reason=" ")
    assert Payout.objects.get(id=payout.id).status == "requested"


def test_it_releases_the_hold_when_it_fails_before_sending(operator, alice, alice_totp, bank, finance_user):
    payout = request(operator, alice, alice_totp, bank)
    services.payout_approve(payout=payout, staff_user=finance_user)
    failed = services.payout_fail(payout=payout, reason="The bank returned the transfer")

    assert failed.status == "failed"
    assert payout_entries(failed) == {}
    assert balance(operator) == 100 * USD
    assert operator_ledger_account(account=operator).held_nanos == 0
    assert_ledger_ok()


def test_it_gives_the_earnings_back_when_it_fails_after_sending(
    operator, alice, alice_totp, bank, finance_user, django_capture_on_commit_callbacks
):
    payout = request(operator, alice, alice_totp, bank)
    services.payout_approve(payout=payout, staff_user=finance_user)
    services.payout_mark_sent(payout=payout)
    with django_capture_on_commit_callbacks(execute=True):
        failed = services.payout_fail(payout=payout, reason="The bank returned the transfer")
    assert mail.outbox[-1].subject == "[INFER] Payout of $30.00 failed"
    assert "The bank returned the transfer" in mail.outbox[-1].body
    services.payout_fail(payout=payout, reason="again")  # a resumed worker: no second reversal

    earnings_key = f"operator:{operator.id}"
    assert payout_entries(failed)[f"payout:{failed.id}:reversed"] == sorted(
        [("clearing:payouts", -30 * USD), (earnings_key, 30 * USD)]
    )
    assert Transaction.objects.filter(reference=f"payout:{payout.code}").count() == 2
    assert balance(operator) == 100 * USD
    assert balance("clearing:payouts") == 0
    assert Payout.objects.get(id=payout.id).reason == "The bank returned the transfer"
    ledger_rollup()
    assert_ledger_ok()


def test_it_cannot_reject_a_sent_payout(operator, alice, alice_totp, bank, finance_user):
    payout = request(operator, alice, alice_totp, bank)
    services.payout_approve(payout=payout, staff_user=finance_user)
    services.payout_mark_sent(payout=payout)
    with pytest.raises(ApplicationError, match="Cannot reject a payout that is sent"):
        services.payout_reject(payout=payout, staff_user=finance_user, reason="late")
    assert Entry.objects.filter(transaction__reference=f"payout:{payout.code}").count() == 2


def test_it_approves_small_payouts_of_verified_operators_automatically(
    operator, alice, alice_totp, bank, settings, django_capture_on_commit_callbacks
):
    settings.PAYOUT_AUTO_APPROVE_MAX_NANOS = 50 * USD
    verify_kyc(operator)
    with django_capture_on_commit_callbacks(execute=True):
        payout = request(operator, alice, alice_totp, bank)

    assert payout.status == "approved"
    assert payout.auto_approved
    assert payout.approved_by is None


def test_it_leaves_unverified_or_large_payouts_to_finance(operator, alice, alice_totp, bank, settings):
    settings.PAYOUT_AUTO_APPROVE_MAX_NANOS = 50 * USD
    unverified = request(operator, alice, alice_totp, bank, amount_nanos=20 * USD, key="a")
    assert unverified.status == "requested"


def test_it_lets_finance_mark_a_solana_payout_paid_by_hand(operator, alice, alice_totp, finance_user):
    solana = unlocked_destination(
        operator, alice, network="solana", address="EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    )
    payout = request(operator, alice, alice_totp, solana)
    services.payout_approve(payout=payout, staff_user=finance_user)
    paid = services.payout_mark_paid(
        payout=payout,
        staff_user=finance_user,
        reference="5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW",
    )

    assert paid.status == "paid"
    assert balance("payouts:sent") == 30 * USD
    assert_ledger_ok()


def test_it_does_not_let_finance_mark_an_evm_wallet_payout_paid_by_hand(
    operator, alice, alice_totp, destination, finance_user
):
    payout = request(operator, alice, alice_totp, destination)
    services.payout_approve(payout=payout, staff_user=finance_user)
    with pytest.raises(ApplicationError, match="sent and confirmed by the platform"):
        services.payout_mark_paid(payout=payout, staff_user=finance_user, reference="0xabc")
