"""Reads for billing: balances, holds, statements."""

from django.db.models import Sum

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
