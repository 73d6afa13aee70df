"""Template context for every portal page: the low-balance state (banner) and unread notifications (bell)."""

from django.conf import settings


def balance_alerts(request):
    account = getattr(request, "account", None)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not account:
        return {}
    from .selectors import buyer_ledger_account, unread_notification_count

    ledger = buyer_ledger_account(account=account) if account.is_buyer else None
    state = None
    if ledger is not None:
        available = ledger.balance_nanos
        if available <= 0:
            state = "zero"
        elif available < settings.LOW_BALANCE_DESKTOP_NANOS:
            state = "very_low"
        elif available < settings.LOW_BALANCE_EMAIL_NANOS:
            state = "low"
    return {"balance_state": state, "unread_notifications": unread_notification_count(account=account)}
