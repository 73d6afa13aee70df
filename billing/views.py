"""Portal views for billing: notifications and email preferences."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import account_required

from .alerts import alert_preference_set, notifications_mark_read
from .models import AlertPreference
from .selectors import notifications_for_account
from .streams import notification_message


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
