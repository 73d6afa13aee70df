"""Reads for payouts: destinations, history, and the withdrawable balance."""

from billing.selectors import ledger_account_balance, operator_ledger_account

from .models import Payout, PayoutDestination


def destinations_live(*, account):
    return PayoutDestination.objects.filter(account=account, removed_at__isnull=True).order_by("-created_at")


def payouts_for_account(*, account):
    return Payout.objects.filter(account=account).select_related("destination").order_by("-created_at", "-id")


def payout_summary(*, account) -> dict:
    """Earnings, what pending payouts hold, and what can be withdrawn now (all exact nanos)."""
    earnings = operator_ledger_account(account=account)
    balance = ledger_account_balance(earnings) if earnings else 0
    held = earnings.held_nanos if earnings else 0
    return {"earnings_nanos": balance, "held_nanos": held, "withdrawable_nanos": max(balance - held, 0)}
