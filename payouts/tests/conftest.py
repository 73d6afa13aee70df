"""Fixtures for payouts: operator accounts with earnings, TOTP authenticators, unlocked destinations, a local chain."""

import itertools
import time
from datetime import timedelta

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from accounts.services import account_create, account_roles_update
from billing.checks import ledger_check
from billing.models import Transaction
from billing.money import revenue_split
from billing.selectors import buyer_ledger_account, operator_ledger_account
from billing.services import system_ledger_account_id, transaction_post
from conftest import fund
from kyc.models import KYCSubmission, Violation
from kyc.services import violation_file
from payouts.models import PayoutDestination
from payouts.services import destination_create

USD = 1_000_000_000
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 test vectors
OTHER_WALLET = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
SOLANA_WALLET = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"

_usage_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_used_codes():
    """allauth remembers used TOTP codes in the cache (this worker's own Redis db): start clean."""
    cache.clear()
    yield


def earn(account, operator_nanos_wanted: int):
    """Give an operator earnings the way usage does: buyer −cost, operator +80 %, platform +20 %."""
    dave, _ = User.objects.get_or_create(email="dave@buyers.example")
    buyer = account_create(name=f"Dave's buyers {next(_usage_ids)}", owner=dave, is_buyer=True)
    cost = operator_nanos_wanted * 100 // 80
    operator_share, platform_share = revenue_split(cost)
    fund(buyer, cost)
    transaction_post(
        idempotency_key=f"usage:test-{account.id}-{next(_usage_ids)}-{Transaction.objects.count()}",
        kind=Transaction.Kind.USAGE,
        legs=[
            (buyer_ledger_account(account=buyer).id, -cost),
            (operator_ledger_account(account=account).id, operator_share),
            (system_ledger_account_id("platform:revenue"), platform_share),
        ],
    )
    return operator_share


def totp_for(user) -> str:
    """Give a user a TOTP authenticator; returns its secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def code_now(secret: str) -> str:
    """The authenticator's current code. Near the end of a 30 s window, wait for the next one: a code
    read at 29.99 s is wrong by the time the server checks it (allauth allows no drift by default)."""
    left = 30 - time.time() % 30
    if left < 1:
        time.sleep(left + 0.05)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def unlocked_destination(account, user, **fields):
    """A destination added 25 hours ago, past its 24-hour lock."""
    fields = {"kind": PayoutDestination.Kind.USDC_WALLET, "network": "ethereum", "address": WALLET, **fields}
    return destination_create(account=account, user=user, now=timezone.now() - timedelta(hours=25), **fields)


def verify_kyc(account):
    """The KYC outcome as the kyc app records an approval (its review flow is tested there)."""
    now = timezone.now()
    return KYCSubmission.objects.create(
        account=account,
        legal_name="Alice Example",
        status=KYCSubmission.Status.APPROVED,
        submitted_at=now,
        decided_at=now,
    )


def open_violation(account):
    return violation_file(
        account=account,
        kind=Violation.Kind.METERING_DISAGREEMENT,
        severity=Violation.Severity.LOW,
        evidence="Token counts disagree",
        is_automatic=True,
    )


def assert_ledger_ok():
    report = ledger_check()
    assert report.ok, report.problems


@pytest.fixture
def operator(alice_account):
    """Alice's team as an operator with $100 of earnings, Alice with an authenticator app."""
    account = account_roles_update(account=alice_account, is_buyer=True, is_operator=True)
    earn(account, 100 * USD)
    return account


@pytest.fixture
def alice_totp(alice):
    return totp_for(alice)


@pytest.fixture
def destination(operator, alice):
    return unlocked_destination(operator, alice)


@pytest.fixture
def charlie_operator(charlie_account):
    account = account_roles_update(account=charlie_account, is_buyer=True, is_operator=True)
    earn(account, 50 * USD)
    return account


@pytest.fixture
def finance_user(db):
    from django.contrib.auth.models import Group, Permission

    from accounts.models import User

    user = User.objects.create_user(email="finn@infer.local", password="correct horse battery staple", is_staff=True)
    group, _ = Group.objects.get_or_create(name="finance")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="payouts"))
    user.groups.add(group)
    return user
