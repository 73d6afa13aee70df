"""Portal views for accounts: the dashboard and the account switcher."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from billing.selectors import balance_summary

from .decorators import account_required
from .middleware import SESSION_KEY
from .models import Membership


@account_required
def dashboard(request):
    return render(request, "portal/dashboard.html", {"balance": balance_summary(account=request.account)})


@require_POST
@login_required
def account_switch(request, code):
    membership = Membership.objects.filter(user=request.user, account__code=code).first()
    if membership is None:
        raise Http404
    request.session[SESSION_KEY] = str(code)
    return redirect(request.POST.get("next") or "dashboard")
