"""Reads for usage: routes to nodes (cached briefly in-process), the model list, usage records, disputes."""

import time
from dataclasses import dataclass
from datetime import UTC, date, timedelta

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from accounts.models import Account
from billing.models import CatalogModel, LedgerAccount
from billing.prices import effective_price

from .models import Node, NodeModel, UsageDaily, UsageRecord, UsageRollupState


@dataclass(frozen=True)
class CatalogEntry:
    id: int
    model_id: str
    tokenizer: str
    context_length: int
    tier_slug: str
    tier_name: str


@dataclass(frozen=True)
class Route:
    """One node that can serve a model, with what settlement needs to pay its operator."""

    node_id: int
    node_name: str
    operator_account_id: int
    operator_ledger_id: int
    base_url: str
    api_key: str
    upstream_model: str
    input_price_nanos: int
    output_price_nanos: int


_catalog_cache: tuple[float, dict[str, CatalogEntry]] | None = None
_route_cache: dict[str, tuple[float, list[Route]]] = {}


def routes_cache_clear() -> None:
    global _catalog_cache
    _catalog_cache = None
    _route_cache.clear()


def _ttl() -> float:
    return settings.GATEWAY_ROUTE_CACHE_SECONDS


def routes_fresh(*, model_id) -> bool:
    """True when `catalog_entry` and `routes_for_model` for this model would answer from the cache
    (no query), so code on an event loop may call them there; otherwise they belong in a thread."""
    now = time.monotonic()
    if _catalog_cache is None or now - _catalog_cache[0] >= _ttl():
        return False
    if not isinstance(model_id, str) or model_id not in _catalog_cache[1]:
        return True  # an unknown model is refused without looking at routes
    cached = _route_cache.get(model_id)
    return cached is not None and now - cached[0] < _ttl()


def catalog_entry(*, model_id: str) -> CatalogEntry | None:
    """An active catalog model by its API id (the catalog is cached like routes)."""
    global _catalog_cache
    now = time.monotonic()
    if _catalog_cache is None or now - _catalog_cache[0] >= _ttl():
        entries = {
            m.model_id: CatalogEntry(m.id, m.model_id, m.tokenizer, m.context_length, m.tier.slug, m.tier.name)
            for m in CatalogModel.objects.filter(is_active=True).select_related("tier")
        }
        _catalog_cache = (now, entries)
    return _catalog_cache[1].get(model_id)


def _routable_node_models():
    # Only active nodes of active operator Accounts: a suspended Account or node gets no traffic.
    return NodeModel.objects.filter(
        model__is_active=True,
        node__status=Node.Status.ACTIVE,
        node__account__status=Account.Status.ACTIVE,
        node__account__is_operator=True,
    )


def routes_for_model(*, model_id: str) -> list[Route]:
    """Nodes serving `model_id`, cheapest first; health ordering is applied per request by the gateway.

    Cached for GATEWAY_ROUTE_CACHE_SECONDS so the request path does not query nodes every time; a
    suspension therefore stops traffic within that many seconds.
    """
    now = time.monotonic()
    cached = _route_cache.get(model_id)
    if cached is not None and now - cached[0] < _ttl():
        return cached[1]
    rows = list(_routable_node_models().filter(model__model_id=model_id).select_related("node", "model__tier"))
    ledgers = dict(
        LedgerAccount.objects.filter(
            owner_id__in={r.node.account_id for r in rows}, kind=LedgerAccount.Kind.OPERATOR_EARNINGS
        ).values_list("owner_id", "id")
    )
    routes = []
    for row in rows:
        if row.node.account_id not in ledgers:
            continue  # an operator without an earnings account cannot be paid: never route to it
        price = effective_price(
            model=row.model, input_override_nanos=row.input_price_nanos, output_override_nanos=row.output_price_nanos
        )
        routes.append(
            Route(
                node_id=row.node_id,
                node_name=row.node.name,
                operator_account_id=row.node.account_id,
                operator_ledger_id=ledgers[row.node.account_id],
                base_url=row.node.base_url.rstrip("/"),
                api_key=row.node.api_key,
                upstream_model=row.upstream_name or row.model.model_id,
                input_price_nanos=price.input_nanos,
                output_price_nanos=price.output_nanos,
            )
        )
    routes.sort(key=lambda r: (r.input_price_nanos + r.output_price_nanos, r.node_id))
    _route_cache[model_id] = (now, routes)
    return routes


def models_available() -> list[dict]:
    """Models with at least one active node, with their tier and price range (nanos per token)."""
    out: dict[str, dict] = {}
    for row in _routable_node_models().select_related("model__tier").order_by("model__model_id"):
        price = effective_price(
            model=row.model, input_override_nanos=row.input_price_nanos, output_override_nanos=row.output_price_nanos
        )
        entry = out.setdefault(
            row.model.model_id,
            {"model": row.model, "input": [price.input_nanos] * 2, "output": [price.output_nanos] * 2, "nodes": 0},
        )
        entry["nodes"] += 1
        for direction, value in (("input", price.input_nanos), ("output", price.output_nanos)):
            entry[direction][0] = min(entry[direction][0], value)
            entry[direction][1] = max(entry[direction][1], value)
    return list(out.values())


def usage_records(*, account) -> QuerySet[UsageRecord]:
    """An Account's usage records, newest first (served by the usage_account_created_id index)."""
    return UsageRecord.objects.filter(account=account).order_by("-created_at", "-id")


def metering_disagreements(*, operator_account, since) -> QuerySet[UsageRecord]:
    """Usage records since `since` where a node of `operator_account` claimed more tokens than we counted."""
    return UsageRecord.objects.filter(
        node__account=operator_account, metering_disagreement=True, created_at__gte=since
    ).order_by("-created_at")


def nodes_of(*, account) -> QuerySet[Node]:
    return Node.objects.filter(account=account).order_by("name", "id")


@dataclass(frozen=True)
class NodePriceRow:
    """A model on a node with the tier default and the operator's price (nanos per token; None: default)."""

    model_id: str
    tier_name: str
    default_input_nanos: int
    default_output_nanos: int
    input_override_nanos: int | None
    output_override_nanos: int | None

    @property
    def input_nanos(self) -> int:
        return self.default_input_nanos if self.input_override_nanos is None else self.input_override_nanos

    @property
    def output_nanos(self) -> int:
        return self.default_output_nanos if self.output_override_nanos is None else self.output_override_nanos


def node_prices(*, node: Node) -> list[NodePriceRow]:
    """The models a node serves, by model id, with what a request to it costs per token."""
    rows = NodeModel.objects.filter(node=node).select_related("model__tier").order_by("model__model_id")
    return [
        NodePriceRow(
            model_id=row.model.model_id,
            tier_name=row.model.tier.name,
            default_input_nanos=row.model.tier.input_price_nanos,
            default_output_nanos=row.model.tier.output_price_nanos,
            input_override_nanos=row.input_price_nanos,
            output_override_nanos=row.output_price_nanos,
        )
        for row in rows
    ]


def catalog_models() -> QuerySet[CatalogModel]:
    """Active catalog models an operator can serve, by tier then id."""
    return CatalogModel.objects.filter(is_active=True).select_related("tier").order_by("tier__order", "model_id")


def buyer_spend_by_day(*, account, start, end) -> list[dict]:
    """A buyer's usage per UTC day and model from the daily rollup, days `start`..`end` inclusive.

    Rows: day, model (its API id), requests, errors, input_tokens, output_tokens, cost_nanos; by day,
    then model. Records newer than the rollup's lag (a minute) are not in it yet.
    """
    rows = (
        UsageDaily.objects.filter(account=account, day__gte=start, day__lte=end)
        .values("day", model_name=F("model__model_id"))
        .annotate(
            requests=Sum("requests"),
            errors=Sum("errors"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost_nanos=Sum("cost_nanos"),
        )
        .order_by("day", "model_name")
    )
    return [_model_named(row) for row in rows]


def operator_earnings_by_day(*, operator_account, start, end, node=None, model=None) -> list[dict]:
    """An operator's earnings per UTC day, node and model from the daily rollup, `start`..`end` inclusive.

    Rows: day, model (API id), node_id, node_name, requests, errors, input_tokens, output_tokens,
    cost_nanos (what buyers paid), earnings_nanos (the operator's share); by day, model, node.
    """
    rows = UsageDaily.objects.filter(operator_account=operator_account, day__gte=start, day__lte=end)
    if node is not None:
        rows = rows.filter(node=node)
    if model is not None:
        rows = rows.filter(model=model)
    rows = (
        rows.values("day", "node_id", model_name=F("model__model_id"), node_name=F("node__name"))
        .annotate(
            requests=Sum("requests"),
            errors=Sum("errors"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost_nanos=Sum("cost_nanos"),
            earnings_nanos=Sum("operator_share_nanos"),
        )
        .order_by("day", "model_name", "node_id")
    )
    return [_model_named(row) for row in rows]


def _model_named(row: dict) -> dict:
    # `model` is the API id here; Django cannot annotate a name that shadows the model field.
    row["model"] = row.pop("model_name")
    return row


# --- Operator earnings (the portal's dashboard and statement) -------------------------------------

_EARNING_SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cost_nanos", "earnings_nanos")


def operator_earnings_rows(*, operator_account, start, end) -> list[dict]:
    """operator_earnings_by_day plus the records the rollup has not summed yet: exact up to now.

    The rollup trails by USAGE_ROLLUP_LAG_SECONDS and its beat interval; an operator watching today's
    earnings after a request expects to see it, so the few records past the watermark are summed
    here from UsageRecord (a primary-key range scan, small by construction). Same row shape.
    """
    rows = operator_earnings_by_day(operator_account=operator_account, start=start, end=end)
    watermark = UsageRollupState.objects.filter(id=1).values_list("last_record_id", flat=True).first() or 0
    tail = (
        UsageRecord.objects.filter(id__gt=watermark, node__account=operator_account)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .filter(day__gte=start, day__lte=end)
        .values("day", "node_id", model_name=F("model__model_id"), node_name=F("node__name"))
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=Q(status__in=("error", "node_failed"))),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost_nanos=Sum("cost_nanos"),
            earnings_nanos=Sum("operator_share_nanos"),
        )
    )
    merged = {(r["day"], r["model"], r["node_id"]): r for r in rows}
    for row in tail:
        row = _model_named(row)
        key = (row["day"], row["model"], row["node_id"])
        if key in merged:
            for name in _EARNING_SUMS:
                merged[key][name] += row[name]
        else:
            merged[key] = row
    return [merged[key] for key in sorted(merged, key=lambda k: (k[0], k[1], k[2] or 0))]


@dataclass
class EarningsSummary:
    """The dashboard: totals for today, 7 and 30 days, each of the 30 days, and 30 days by node and model."""

    today: date
    today_nanos: int
    week_nanos: int
    month_nanos: int
    month_requests: int
    days: list  # [(day, earnings nanos)] oldest first, every day present
    by_node: list  # [{"name", "requests", "input_tokens", "output_tokens", "earnings_nanos"}], highest first
    by_model: list  # the same by model id


def operator_earnings_summary(*, operator_account, today: date) -> EarningsSummary:
    start = today - timedelta(days=29)
    rows = operator_earnings_rows(operator_account=operator_account, start=start, end=today)
    per_day = {start + timedelta(days=i): 0 for i in range(30)}
    by_node: dict = {}
    by_model: dict = {}
    for row in rows:
        per_day[row["day"]] += row["earnings_nanos"]
        for groups, key in ((by_node, row["node_name"] or "(no node)"), (by_model, row["model"])):
            group = groups.setdefault(
                key, {"name": key, "requests": 0, "input_tokens": 0, "output_tokens": 0, "earnings_nanos": 0}
            )
            for name in ("requests", "input_tokens", "output_tokens", "earnings_nanos"):
                group[name] += row[name]
    week_start = today - timedelta(days=6)
    return EarningsSummary(
        today=today,
        today_nanos=per_day[today],
        week_nanos=sum(v for d, v in per_day.items() if d >= week_start),
        month_nanos=sum(per_day.values()),
        month_requests=sum(row["requests"] for row in rows),
        days=sorted(per_day.items()),
        by_node=sorted(by_node.values(), key=lambda g: (-g["earnings_nanos"], g["name"])),
        by_model=sorted(by_model.values(), key=lambda g: (-g["earnings_nanos"], g["name"])),
    )


def buyer_daily_totals(*, account, end, days: int = 30) -> list[dict]:
    """One row per UTC day for the `days` days ending `end` (zeros included): day, requests, cost_nanos."""
    start = end - timedelta(days=days - 1)
    sums = {
        row["day"]: row
        for row in UsageDaily.objects.filter(account=account, day__gte=start, day__lte=end)
        .values("day")
        .annotate(requests=Sum("requests"), cost_nanos=Sum("cost_nanos"))
    }
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        row = sums.get(day, {})
        out.append({"day": day, "requests": row.get("requests", 0), "cost_nanos": row.get("cost_nanos", 0)})
    return out


def usage_records_page(*, queryset, before: tuple | None, limit: int) -> tuple[list[UsageRecord], tuple | None]:
    """A page of `queryset` newest first, after the keyset `before` = (created_at, id); and the next keyset."""
    queryset = queryset.order_by("-created_at", "-id")
    if before is not None:
        created_at, record_id = before
        queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=record_id))
    rows = list(queryset[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1].created_at, rows[-1].id) if more else None)


def usage_nodes_seen(*, account) -> QuerySet[Node]:
    """Nodes that served the Account (from the rollup, so it stays cheap however many records there are)."""
    ids = UsageDaily.objects.filter(account=account, node__isnull=False).values("node_id").distinct()
    return Node.objects.filter(id__in=ids).order_by("name", "id")
