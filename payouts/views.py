"""Portal pages for payouts: withdrawable balance, destinations with their lock, the request form, history."""

import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import account_required
from accounts.scoping import scoped_get_or_404
from billing.money import MoneyError, usd_to_nanos
from infer.errors import ApplicationError

from .confirmation import totp_enabled
from .models import PayoutDestination
from .selectors import destinations_live, payout_summary, payouts_for_account
from .services import destination_create, payout_request
from .services import destination_remove as destination_remove_service


class PayoutRequestForm(forms.Form):
    destination = forms.ChoiceField(label="Destination")
    amount = forms.CharField(
        label="Amount (USD)", max_length=20, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    totp_code = forms.CharField(
        label="Authenticator code",
        max_length=10,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )
    # One key per rendered form: a double click or a resubmitted page cannot request twice.
    idempotency_key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, destinations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["destination"].choices = [(str(d.code), d.label or d.describe()) for d in destinations]

    def clean_amount(self):
        try:
            return usd_to_nanos(self.cleaned_data["amount"])
        except MoneyError as exc:
            raise forms.ValidationError(str(exc)) from None


class DestinationForm(forms.Form):
    kind = forms.ChoiceField(label="Type", choices=PayoutDestination.Kind.choices)
    label = forms.CharField(label="Name (optional)", max_length=100, required=False)
    network = forms.ChoiceField(
        label="Network", choices=[("", "—"), *PayoutDestination.Network.choices], required=False
    )
    address = forms.CharField(label="Wallet address", max_length=64, required=False)
    stripe_account_id = forms.CharField(label="Stripe Connect account id", max_length=64, required=False)
    bank_holder_name = forms.CharField(label="Account holder", max_length=200, required=False)
    bank_iban = forms.CharField(label="IBAN or account number", max_length=64, required=False)
    bank_bic = forms.CharField(label="BIC/SWIFT or routing number", max_length=20, required=False)


def _countdown(delta) -> str:
    minutes = max(int(delta.total_seconds() + 59) // 60, 0)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _render(request, *, request_form=None, destination_form=None, status=200):
    account = request.account
    destinations = list(destinations_live(account=account))
    now = timezone.now()
    if request_form is None:
        request_form = PayoutRequestForm(
            destinations=[d for d in destinations if not d.is_locked(now)],
            initial={"idempotency_key": uuid.uuid4().hex},
        )
    context = {
        "section": "payouts",  # for the portal's main navigation
        "summary": payout_summary(account=account),
        "destinations": [
            {"destination": d, "locked": d.is_locked(now), "remaining": _countdown(d.unlocks_at() - now)}
            for d in destinations
        ],
        "has_unlocked": any(not d.is_locked(now) for d in destinations),
        "payouts": payouts_for_account(account=account)[:100],
        "request_form": request_form,
        "destination_form": destination_form or DestinationForm(),
        "mfa_enabled": totp_enabled(user=request.user),
        "min_payout_nanos": settings.MIN_PAYOUT_NANOS,
        "kyc_threshold_nanos": settings.PAYOUT_KYC_THRESHOLD_NANOS,
        "can_manage": bool(request.membership and request.membership.can_manage),
    }
    return render(request, "payouts/payouts.html", context, status=status)


@account_required
def payouts_page(request):
    if not request.account.is_operator:
        return render(request, "payouts/not_operator.html", {"section": "payouts"}, status=404)
    if request.method != "POST":
        return _render(request)
    destinations = list(destinations_live(account=request.account))
    form = PayoutRequestForm(request.POST, destinations=[d for d in destinations if not d.is_locked()])
    # A locked destination is not offered, but say why if someone posts it anyway.
    form.fields["destination"].choices = [(str(d.code), d.label or d.describe()) for d in destinations]
    if not form.is_valid():
        return _render(request, request_form=form, status=400)
    destination = next(d for d in destinations if str(d.code) == form.cleaned_data["destination"])
    try:
        _payout, replayed = payout_request(
            account=request.account,
            user=request.user,
            destination=destination,
            amount_nanos=form.cleaned_data["amount"],
            totp_code=form.cleaned_data["totp_code"],
            idempotency_key=f"portal:{form.cleaned_data['idempotency_key']}",
        )
    except ApplicationError as exc:
        form.add_error(None, exc.message)
        return _render(request, request_form=form, status=400)
    if not replayed:
        messages.success(request, "Payout requested: we email you at each step.")
    return redirect("payouts")


@require_POST
@account_required
def destination_add(request):
    form = DestinationForm(request.POST)
    if not form.is_valid():
        return _render(request, destination_form=form, status=400)
    try:
        destination = destination_create(account=request.account, user=request.user, **form.cleaned_data)
    except ApplicationError as exc:
        form.add_error(None, exc.message)
        return _render(request, destination_form=form, status=400)
    messages.success(
        request, f"Destination added. It can receive payouts from {destination.unlocks_at():%Y-%m-%d %H:%M} UTC."
    )
    return redirect("payouts")


@require_POST
@account_required
def destination_remove(request, code):
    destination = scoped_get_or_404(PayoutDestination.objects.filter(removed_at__isnull=True), request, code=code)
    try:
        destination_remove_service(destination=destination, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("payouts")
    messages.success(request, "Destination removed.")
    return redirect("payouts")
