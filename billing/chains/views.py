"""Portal views for USDC deposits; the panel itself is billing/_chain_deposits.html, included by Add funds."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.decorators import account_required

from . import selectors


@require_GET
@account_required
def usdc_deposits(request):
    return render(request, "billing/usdc_deposits.html")


@require_GET
@account_required
def chain_deposit_history(request):
    """The history rows of the current Account only (an HTML fragment the panel swaps in)."""
    rows = selectors.chain_deposits_for_account(request.account, limit=50)
    pending = any(r["status"] in selectors.PENDING_STATUSES for r in rows)
    response = render(request, "billing/_chain_deposit_rows.html", {"rows": rows, "pending": pending})
    response["Cache-Control"] = "no-store"
    return response
