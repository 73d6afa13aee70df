"""Reads for usage: routes to nodes (cached briefly in-process), the model list, usage records, disputes."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import Account
from billing.models import CatalogModel, LedgerAccount
from billing.prices import effective_price

from .models import Node, NodeModel, UsageRecord


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
    """An Account's usage records, newest first (served by the usage_account_created index)."""
    return UsageRecord.objects.filter(account=account).order_by("-created_at", "-id")


def metering_disagreements(*, operator_account, since) -> QuerySet[UsageRecord]:
    """Usage records since `since` where a node of `operator_account` claimed more tokens than we counted."""
    return UsageRecord.objects.filter(
        node__account=operator_account, metering_disagreement=True, created_at__gte=since
    ).order_by("-created_at")


def nodes_of(*, account) -> QuerySet[Node]:
    return Node.objects.filter(account=account).order_by("name", "id")
