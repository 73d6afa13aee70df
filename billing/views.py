"""Portal views for billing: Add funds (card checkout, deposit addresses, deposit history), notifications
and email preferences."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import account_required
from infer.errors import ApplicationError

from . import stripe_gateway
from .alerts import alert_preference_set, notifications_mark_read
from .card_services import card_checkout_start, card_deposit_limits
from .forms import CardDepositForm
from .models import AlertPreference
from .selectors import account_blocked_by_dispute, balance_summary, deposits_page, notifications_for_account
from .streams import notification_message

HISTORY_ROWS = 50
# Rows in these states can still change on their own (a webhook, a block): the page polls for them.
UNSETTLED = {"pending", "seen", "confirming", "finalized", "below_minimum"}


def _history(account) -> dict:
    rows, _next = deposits_page(account=account, limit=HISTORY_ROWS)
    return {
        "deposits": rows,
        "deposits_unsettled": any(r.status in UNSETTLED for r in rows),
        "balance": balance_summary(account=account),
    }


@account_required
def add_funds(request):
    account = request.account
    form = CardDepositForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            payment = card_checkout_start(
                account=account,
                amount_nanos=form.cleaned_data["amount"],
                user=request.user,
                return_url=request.build_absolute_uri(reverse("add-funds")),
            )
        except ApplicationError as exc:
            form.add_error("amount", exc.message)
        else:
            return redirect(payment.checkout_url)  # Stripe's hosted page; we never see the card
    history = _history(account)
    balance = history["balance"]
    minimum, maximum = card_deposit_limits()
    context = {
        "form": form,
        "blocked_by_dispute": account_blocked_by_dispute(account, balance_nanos=balance["balance_nanos"]),
        "card_enabled": stripe_gateway.card_payments_enabled(),
        "min_deposit_nanos": minimum,
        "max_deposit_nanos": maximum,
        # Stripe's own ceiling is stated as Stripe's; a MAX_DEPOSIT_NANOS below it is stated as ours.
        "max_is_ours": 0 < settings.MAX_DEPOSIT_NANOS == maximum,
        "checkout": request.GET.get("checkout"),
        "section": "funds",
        **history,
    }
    return render(request, "billing/add_funds.html", context, status=400 if form.errors else 200)


@require_GET
@account_required
def deposit_history(request):
    """The history table alone, for the Add funds page to refresh while a deposit is on its way."""
    return render(request, "billing/_deposit_history.html", _history(request.account))


@account_required
def notifications(request):
    rows = list(notifications_for_account(account=request.account)[:100])
    for row in rows:
        row.message = notification_message(row)
    preference = AlertPreference.objects.filter(user=request.user, account=request.account).first()
    return render(
        request,
        "billing/notifications.html",
        {"notifications": rows, "low_balance_email": preference.low_balance_email if preference else True},
    )


@require_POST
@account_required
def notifications_read(request):
    notifications_mark_read(account=request.account)
    return redirect("notifications")


@require_POST
@account_required
def notification_preferences(request):
    enabled = request.POST.get("low_balance_email") == "on"
    alert_preference_set(user=request.user, account=request.account, low_balance_email=enabled)
    messages.success(request, "Low-balance emails are on." if enabled else "Low-balance emails are off.")
    return redirect("notifications")
