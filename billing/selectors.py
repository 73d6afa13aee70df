"""Reads for billing: balances, holds, statements, deposits and card disputes."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet, Sum

from .models import BalanceDelta, LedgerAccount


def buyer_ledger_account(*, account) -> LedgerAccount | None:
    return LedgerAccount.objects.filter(owner=account, kind=LedgerAccount.Kind.BUYER).first()


def operator_ledger_account(*, account) -> LedgerAccount | None:
    return LedgerAccount.objects.filter(owner=account, kind=LedgerAccount.Kind.OPERATOR_EARNINGS).first()


def ledger_account_balance(ledger_account: LedgerAccount) -> int:
    """Exact balance: the cached column plus, for deferred accounts, the deltas not yet rolled up."""
    if not ledger_account.is_deferred:
        return ledger_account.balance_nanos
    pending = BalanceDelta.objects.filter(ledger_account=ledger_account).aggregate(s=Sum("amount_nanos"))["s"] or 0
    return ledger_account.balance_nanos + pending


def balance_summary(*, account) -> dict:
    """A buyer's balance, holds of requests in flight, what is available, and the warning thresholds."""
    from django.conf import settings

    ledger = buyer_ledger_account(account=account)
    balance = ledger.balance_nanos if ledger else 0
    held = ledger.held_nanos if ledger else 0
    return {
        "balance_nanos": balance,
        "held_nanos": held,
        "available_nanos": balance - held,
        "in_flight": ledger.in_flight if ledger else 0,
        "thresholds": {
            "email_nanos": settings.LOW_BALANCE_EMAIL_NANOS,
            "desktop_nanos": settings.LOW_BALANCE_DESKTOP_NANOS,
            "blocked_nanos": 0,
        },
    }


def chain_deposits_for_account(account, *, limit: int = 100) -> list[dict]:
    """USDC deposits for /api/deposits and the deposit history (see billing/chains/selectors.py)."""
    from .chains.selectors import chain_deposits_for_account as rows

    return rows(account, limit=limit)


# --- Card deposits and disputes -------------------------------------------------------------------


def account_blocked_by_dispute(account, *, balance_nanos: int | None = None) -> bool:
    """True while a card dispute's withdrawal (open or lost, not won back) leaves the balance negative.

    The gateway passes the balance it already read for admission: at zero or above this answers
    without a query, so the check costs nothing on the request path of an account in good standing.
    """
    from .models import CardDispute

    if balance_nanos is None:
        ledger = buyer_ledger_account(account=account)
        balance_nanos = ledger.balance_nanos if ledger else 0
    if balance_nanos >= 0:
        return False
    return CardDispute.objects.filter(account=account, debited_nanos__gt=0, reinstated_nanos=0).exists()


# --- Deposit history: every way money comes in, one list ------------------------------------------
#
# Each deposit method is a `DepositSource`: a queryset of an account's deposits (with `created_at` and
# `id`) and a function turning one into a `DepositRow`. The history and `GET /api/deposits` merge the
# sources newest first with a keyset cursor (created_at, method, id), so a new method (USDC on chain)
# slots in by appending its source to DEPOSIT_SOURCES.


@dataclass(frozen=True)
class DepositRow:
    id: str  # public id
    method: str  # "card" | "usdc"
    network: str | None  # None for cards; "ethereum" | "base" | "solana"
    amount_nanos: int
    status: str
    created_at: datetime
    credited_at: datetime | None
    reference: str  # the payment intent, or the transaction hash
    sort_id: int  # the row's primary key: the cursor's tie-breaker


@dataclass(frozen=True)
class DepositSource:
    method: str
    queryset: Callable[[Any], QuerySet]  # an account's deposits of this method
    row: Callable[[Any], DepositRow]
    lookup: Callable[[str], Q | None]  # public id -> filter for that deposit, None if not this method's id


def card_deposit_status(payment) -> str:
    """pending → credited, or expired; after crediting: refunded (partly or fully), disputed, dispute_lost."""
    from .models import CardDispute, CardPayment

    if payment.status != CardPayment.Status.CREDITED:
        return payment.status
    unsettled = [d for d in payment.disputes.all() if d.debited_nanos and not d.reinstated_nanos]
    if any(d.status == CardDispute.Status.LOST for d in unsettled):
        return "dispute_lost"
    if unsettled:
        return "disputed"
    if payment.refunded_nanos and payment.refunded_nanos >= payment.credited_nanos:
        return "refunded"
    if payment.refunded_nanos:
        return "partially_refunded"
    return "credited"


def _card_queryset(account):
    from .models import CardPayment

    return (
        CardPayment.objects.filter(account=account)
        .exclude(status=CardPayment.Status.FAILED)
        .prefetch_related("disputes")
    )


def _card_row(payment) -> DepositRow:
    from .models import CardPayment

    return DepositRow(
        id=str(payment.code),
        method="card",
        network=None,
        amount_nanos=payment.credited_nanos if payment.status == CardPayment.Status.CREDITED else payment.amount_nanos,
        status=card_deposit_status(payment),
        created_at=payment.created_at,
        credited_at=payment.credited_at,
        reference=payment.payment_intent_id or payment.checkout_session_id or "",
        sort_id=payment.id,
    )


def _card_lookup(public_id: str) -> Q | None:
    try:
        return Q(code=uuid.UUID(public_id))
    except ValueError:
        return None


def _usdc_queryset(account):
    from .chains.selectors import chain_deposits_queryset

    return chain_deposits_queryset(account)


def _usdc_row(deposit) -> DepositRow:
    from .chains.selectors import chain_deposit_row_fields

    return DepositRow(**chain_deposit_row_fields(deposit))


def _usdc_lookup(public_id: str) -> Q | None:
    from .chains.selectors import chain_deposit_lookup

    return chain_deposit_lookup(public_id)


DEPOSIT_SOURCES: list[DepositSource] = [
    DepositSource(method="card", queryset=_card_queryset, row=_card_row, lookup=_card_lookup),
    DepositSource(method="usdc", queryset=_usdc_queryset, row=_usdc_row, lookup=_usdc_lookup),
]

DepositCursor = tuple[datetime, str, int]  # (created_at, method, id) of the last row shown


def _after(method: str, cursor: DepositCursor | None) -> Q:
    """Rows of a source that come after `cursor` in (created_at, method, id) descending order."""
    if cursor is None:
        return Q()
    created_at, cursor_method, cursor_id = cursor
    if method < cursor_method:
        return Q(created_at__lte=created_at)
    if method > cursor_method:
        return Q(created_at__lt=created_at)
    return Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=cursor_id)


def deposits_page(
    *, account, cursor: DepositCursor | None = None, limit: int = 50
) -> tuple[list[DepositRow], DepositCursor | None]:
    """One page of an account's deposits, newest first, and the cursor of the next page (or None)."""
    rows: list[DepositRow] = []
    for source in DEPOSIT_SOURCES:
        queryset = source.queryset(account).filter(_after(source.method, cursor)).order_by("-created_at", "-id")
        rows.extend(source.row(obj) for obj in queryset[: limit + 1])
    rows.sort(key=lambda r: (r.created_at, r.method, r.sort_id), reverse=True)
    page = rows[:limit]
    more = len(rows) > limit
    last = page[-1] if page else None
    return page, ((last.created_at, last.method, last.sort_id) if more and last else None)


def deposit_get(*, account, public_id: str) -> DepositRow | None:
    """One deposit of `account` by its public id; another tenant's deposit is None (a 404)."""
    for source in DEPOSIT_SOURCES:
        match = source.lookup(public_id)
        if match is not None:
            obj = source.queryset(account).filter(match).first()
            if obj is not None:
                return source.row(obj)
    return None


def notifications_for_account(*, account, unread_only: bool = False):
    """Unread first, then newest first."""
    from django.db.models import F

    from .models import Notification

    qs = Notification.objects.filter(account=account)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by(F("read_at").desc(nulls_first=True), "-id")


def unread_notification_count(*, account) -> int:
    from .models import Notification

    return Notification.objects.filter(account=account, read_at__isnull=True).count()
