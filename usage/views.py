"""Portal pages for usage: the Usage logs (filters, each request's breakdown, CSV) and one request."""

import base64
import binascii
import json
from datetime import datetime

from django.shortcuts import render
from django.utils import timezone

from accounts.decorators import account_required
from accounts.models import APIKey
from accounts.scoping import scoped, scoped_get_or_404
from billing.models import CatalogModel

from . import selectors
from .charts import spend_chart
from .filters import UsageRecordFilter
from .models import UsageRecord

PAGE_SIZE = 50


def _keyset_encode(keyset) -> str:
    created_at, record_id = keyset
    return base64.urlsafe_b64encode(json.dumps([created_at.isoformat(), record_id]).encode()).decode().rstrip("=")


def _keyset_decode(text: str):
    """The `before` keyset of a page link; a damaged one starts from the newest page again."""
    try:
        created_at, record_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        when = datetime.fromisoformat(created_at)
        if not isinstance(record_id, int) or when.tzinfo is None:
            return None
        return when, record_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


def dashboard_usage(*, account) -> dict:
    """The dashboard's usage part: the last 30 days' spend chart and the latest requests."""
    days = selectors.buyer_daily_totals(account=account, end=timezone.now().date(), days=30)
    recent = list(selectors.usage_records(account=account).select_related("model", "node")[:8])
    return {"chart": spend_chart(days), "chart_days": days, "recent": recent}


@account_required
def usage_logs(request):
    account = request.account
    base = scoped(UsageRecord.objects.select_related("model", "node", "api_key"), request)
    filterset = UsageRecordFilter(request.GET or None, queryset=base, request=request)
    valid = filterset.is_valid() if filterset.is_bound else True
    records, next_keyset = [], None
    if valid:
        queryset = filterset.qs if filterset.is_bound else base
        records, next_keyset = selectors.usage_records_page(
            queryset=queryset, before=_keyset_decode(request.GET.get("before", "")), limit=PAGE_SIZE
        )
    query = request.GET.copy()
    query.pop("before", None)
    filters = query.urlencode()
    next_query = None
    if next_keyset:
        query["before"] = _keyset_encode(next_keyset)
        next_query = query.urlencode()
    context = {
        "section": "usage",
        "form": filterset.form,
        "records": records,
        "filters": filters,
        "filtered": any(request.GET.get(name) for name in UsageRecordFilter.Meta.fields),
        "first_page": not request.GET.get("before"),
        "next_query": next_query,
        "models": CatalogModel.objects.filter(is_active=True).order_by("model_id"),
        "nodes": selectors.usage_nodes_seen(account=account),
        "keys": APIKey.objects.filter(account=account).order_by("name", "id"),
        "statuses": UsageRecord.Status.choices,
    }
    return render(request, "usage/usage_logs.html", context, status=200 if valid else 400)


@account_required
def usage_record(request, request_id):
    record = scoped_get_or_404(
        UsageRecord.objects.select_related("model", "node", "api_key"), request, request_id=request_id
    )
    return render(request, "usage/usage_record.html", {"section": "usage", "record": record})
