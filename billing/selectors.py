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


def chain_deposits_for_account(account, *, limit: int = 100) -> list[dict]:
    """USDC deposits for /api/deposits and the deposit history (see billing/chains/selectors.py)."""
    from .chains.selectors import chain_deposits_for_account as rows

    return rows(account, limit=limit)
