"""Writes for usage: nodes, admission of a request (key, limits, hold) and the batched settlement."""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone
from rest_framework import exceptions as drf_exceptions

from accounts.authentication import api_key_from_header
from accounts.models import Account, APIKey
from accounts.services import api_key_touch
from billing import money
from billing.card_services import BalanceDisputed
from billing.models import CatalogModel, LedgerAccount, Transaction
from billing.selectors import account_blocked_by_dispute
from billing.services import (
    AdmissionRefused,
    Posting,
    hold_place_request,
    system_ledger_account_id,
    transactions_post,
)
from infer.errors import ApplicationError

from . import selectors, tokenizers
from .models import Node, NodeModel, UsageRecord


class GatewayError(ApplicationError):
    """An error the gateway answers in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, message, *, status_code=400, type="invalid_request_error", code=None, param=None):
        super().__init__(message, code=code or "", status_code=status_code)
        self.type = type
        self.param = param

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code or None}}


# --- Nodes -------------------------------------------------------------------------------------------


def _normalize_base_url(base_url: str) -> str:
    base_url = (base_url or "").strip().rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ApplicationError("A node's URL starts with http:// or https://", code="invalid_url")
    return base_url if base_url.endswith("/v1") else base_url + "/v1"


@transaction.atomic
def node_create(*, account: Account, name: str, base_url: str, api_key: str = "", model_ids=()) -> Node:
    """Register an operator's node and the catalog models it serves (at tier prices until set)."""
    if not account.is_operator:
        raise ApplicationError("Only operator accounts run nodes", code="not_operator")
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Give the node a name", code="invalid_name")
    node = Node.objects.create(
        account=account, name=name[:100], base_url=_normalize_base_url(base_url), api_key=api_key
    )
    for model_id in model_ids:
        node_model_set(node=node, model_id=model_id)
    return node


@transaction.atomic
def node_model_set(
    *, node: Node, model_id: str, input_price_nanos: int | None = None, output_price_nanos: int | None = None
) -> NodeModel:
    """Serve a model on a node, with the operator's prices (None: the tier default)."""
    model = CatalogModel.objects.filter(model_id=model_id, is_active=True).first()
    if model is None:
        raise ApplicationError(f"Unknown model {model_id!r}", code="unknown_model")
    for price in (input_price_nanos, output_price_nanos):
        if price is not None and (not isinstance(price, int) or isinstance(price, bool) or price < 0):
            raise ApplicationError("Prices are non-negative whole nanos per token", code="invalid_price")
    node_model, _ = NodeModel.objects.update_or_create(
        node=node,
        model=model,
        defaults={"input_price_nanos": input_price_nanos, "output_price_nanos": output_price_nanos},
    )
    return node_model


DEMO_NODE_NAME = "Demo node"


@transaction.atomic
def demo_node_ensure(*, account: Account, base_url: str) -> Node:
    """The development node `make run` starts, serving every catalog model (idempotent)."""
    base_url = _normalize_base_url(base_url)
    node = Node.objects.filter(account=account, name=DEMO_NODE_NAME).first()
    if node is None:
        node = Node.objects.create(account=account, name=DEMO_NODE_NAME, base_url=base_url)
    elif node.base_url != base_url:
        node.base_url = base_url
        node.save(update_fields=["base_url"])
    for model in CatalogModel.objects.filter(is_active=True):
        NodeModel.objects.get_or_create(node=node, model=model)
    return node


@transaction.atomic
def operator_nodes_suspend(*, account: Account, reason: str) -> int:
    """Take every active or paused node of an operator out of routing (a high-severity violation opened)."""
    count = (
        Node.objects.filter(account=account)
        .exclude(status=Node.Status.SUSPENDED)
        .update(status=Node.Status.SUSPENDED, suspended_reason=(reason or "")[:300])
    )
    selectors.routes_cache_clear()
    return count


@transaction.atomic
def operator_nodes_restore(*, account: Account) -> int:
    """Lift a suspension: suspended nodes become active again (paused ones stay as the operator left them)."""
    count = Node.objects.filter(account=account, status=Node.Status.SUSPENDED).update(
        status=Node.Status.ACTIVE, suspended_reason=""
    )
    selectors.routes_cache_clear()
    return count


# --- Parsing a request -------------------------------------------------------------------------------

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


@dataclass
class ParsedRequest:
    endpoint: str  # "chat" or "completions"
    payload: dict
    model: selectors.CatalogEntry
    stream: bool
    messages: list | None = None
    prompts: list | None = None
    max_tokens: int | None = None


def _int_param(payload, name):
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise GatewayError(f"`{name}` must be an integer", param=name, code="invalid_value")
    return value


def request_parse(*, body: bytes, endpoint: str) -> ParsedRequest:
    """Validate an OpenAI chat/completions request body; raise GatewayError (400/404) when it is wrong."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise GatewayError("We could not parse the JSON body of your request.", code="invalid_json")
    if not isinstance(payload, dict):
        raise GatewayError("The request body must be a JSON object.", code="invalid_json")
    model_id = payload.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise GatewayError("You must provide a model parameter.", param="model", code="missing_model")
    model = selectors.catalog_entry(model_id=model_id)
    if model is None:
        raise GatewayError(
            f"The model `{model_id}` does not exist.", status_code=404, param="model", code="model_not_found"
        )
    stream = payload.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise GatewayError("`stream` must be a boolean.", param="stream", code="invalid_value")
    parsed = ParsedRequest(endpoint=endpoint, payload=payload, model=model, stream=stream)
    if endpoint == "chat":
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            raise GatewayError("`messages` must be a non-empty array.", param="messages", code="missing_messages")
        for index, message in enumerate(messages):
            if (
                not isinstance(message, dict)
                or not isinstance(message.get("role"), str)
                or message["role"] not in ROLES
            ):
                raise GatewayError(
                    f"messages[{index}] must be an object with a valid `role`.", param=f"messages[{index}]"
                )
            content = message.get("content")
            if content is not None and not isinstance(content, str | list):
                raise GatewayError(f"messages[{index}].content must be a string or an array.")
            if isinstance(content, list) and not all(isinstance(p, dict) for p in content):
                raise GatewayError(f"messages[{index}].content must be an array of content parts.")
        parsed.messages = messages
    else:
        prompt = payload.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise GatewayError(
                "`prompt` must be a string or an array of strings.", param="prompt", code="missing_prompt"
            )
        if len(prompts) > 1:
            raise GatewayError("One prompt per request is supported.", param="prompt", code="unsupported_value")
        parsed.prompts = prompts
    n = _int_param(payload, "n")
    if n not in (None, 1):
        raise GatewayError("Only `n` = 1 is supported.", param="n", code="unsupported_value")
    max_tokens = _int_param(payload, "max_completion_tokens")
    name = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, name = _int_param(payload, "max_tokens"), "max_tokens"
    if max_tokens is not None and not 1 <= max_tokens <= model.context_length:
        raise GatewayError(
            f"`{name}` must be between 1 and the model's context length ({model.context_length}).",
            param=name,
            code="invalid_value",
        )
    parsed.max_tokens = max_tokens
    return parsed


# --- Admission ---------------------------------------------------------------------------------------


@dataclass
class Admission:
    request_id: uuid.UUID
    api_key_id: int
    account_id: int
    buyer_ledger_id: int
    request: ParsedRequest
    routes: list
    prompt_tokens: int | None  # the platform's count; None when no tokenizer ships (unverified)
    prompt_bound: int  # what the hold assumed for the prompt: the count, or an upper bound
    max_tokens: int  # sent to the node and enforced by the gateway
    hold_id: int
    hold_nanos: int
    key_has_limit: bool


_buyer_ledger_ids: dict[int, int] = {}  # account id -> buyer ledger account id (never changes)


def _buyer_ledger_id(account_id: int) -> int:
    if account_id not in _buyer_ledger_ids:
        ledger_id = (
            LedgerAccount.objects.filter(owner_id=account_id, kind=LedgerAccount.Kind.BUYER)
            .values_list("id", flat=True)
            .first()
        )
        if ledger_id is None:
            raise GatewayError(
                "This account is not a buyer account.", status_code=403, type="permission_error", code="not_buyer"
            )
        _buyer_ledger_ids[account_id] = ledger_id
    return _buyer_ledger_ids[account_id]


def period_start(period: str, now: datetime) -> datetime:
    """Start (UTC) of the current spend-limit period of a key: day, ISO week (Monday) or month."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == APIKey.Period.WEEKLY:
        return day - timedelta(days=day.weekday())
    if period == APIKey.Period.MONTHLY:
        return day.replace(day=1)
    return day


def _key_spent(key: APIKey, now: datetime) -> int:
    if key.spend_limit_nanos is None:
        return 0
    start = period_start(key.spend_limit_period, now)
    if key.period_started_at is None or key.period_started_at < start:
        return 0
    return key.period_spent_nanos


def gateway_authenticate(*, authorization: str | None) -> APIKey:
    """The active key of an Authorization header, or a 401/403 GatewayError in OpenAI's shape."""
    try:
        return api_key_from_header(authorization)
    except drf_exceptions.PermissionDenied as exc:
        raise GatewayError(str(exc.detail), status_code=403, type="permission_error", code="account_suspended")
    except drf_exceptions.APIException as exc:
        raise GatewayError(str(exc.detail), status_code=401, type="authentication_error", code="invalid_api_key")


def request_admit(*, authorization: str | None, body: bytes, endpoint: str) -> Admission:
    """Authenticate, validate, route and take the hold for one request (402 when it may not run).

    The hold is the request's maximum cost at the most expensive node it might be routed to (so
    failover never exceeds it): prompt tokens (our count, or an upper bound without a tokenizer) plus
    max_tokens (when absent: what is left of the context), capped by the model's context.
    """
    key = gateway_authenticate(authorization=authorization)
    request = request_parse(body=body, endpoint=endpoint)
    model = request.model
    now = timezone.now()
    if key.spend_limit_nanos is not None and _key_spent(key, now) >= key.spend_limit_nanos:
        raise GatewayError(
            f"This API key reached its {key.spend_limit_period} spend limit.",
            status_code=402,
            type="payment_required",
            code="key_spend_limit",
        )
    routes = selectors.routes_for_model(model_id=model.model_id)
    if not routes:
        raise GatewayError(
            f"No node is serving `{model.model_id}` right now; try again shortly or choose another model.",
            status_code=503,
            type="server_error",
            code="no_capacity",
        )
    if request.messages is not None:
        prompt_tokens = tokenizers.count_chat(model.tokenizer, request.messages)
        bound = prompt_tokens if prompt_tokens is not None else tokenizers.upper_bound_chat(request.messages)
    else:
        prompt_tokens = tokenizers.count_prompt(model.tokenizer, request.prompts)
        bound = prompt_tokens if prompt_tokens is not None else tokenizers.upper_bound_prompt(request.prompts)
    if prompt_tokens is not None and prompt_tokens >= model.context_length:
        raise GatewayError(
            f"This model's maximum context length is {model.context_length} tokens; your prompt has {prompt_tokens}.",
            param="messages" if endpoint == "chat" else "prompt",
            code="context_length_exceeded",
        )
    room = max(1, model.context_length - min(bound, model.context_length - 1))
    max_tokens = min(request.max_tokens or room, room)
    input_price = max(r.input_price_nanos for r in routes)
    output_price = max(r.output_price_nanos for r in routes)
    hold_nanos = bound * input_price + max_tokens * output_price
    buyer_ledger_id = _buyer_ledger_id(key.account_id)
    request_id = uuid.uuid4()
    try:
        hold_id = hold_place_request(
            ledger_account_id=buyer_ledger_id, amount_nanos=hold_nanos, key=f"request:{request_id}"
        )
    except AdmissionRefused as exc:
        if exc.code == "insufficient_balance" and account_blocked_by_dispute(key.account):
            exc = BalanceDisputed()  # checked only on refusal: it costs a request in good standing nothing
        raise GatewayError(exc.message, status_code=402, type="payment_required", code=exc.code)
    api_key_touch(api_key=key, now=now)
    return Admission(
        request_id=request_id,
        api_key_id=key.id,
        account_id=key.account_id,
        buyer_ledger_id=buyer_ledger_id,
        request=request,
        routes=routes,
        prompt_tokens=prompt_tokens,
        prompt_bound=bound,
        max_tokens=max_tokens,
        hold_id=hold_id,
        hold_nanos=hold_nanos,
        key_has_limit=key.spend_limit_nanos is not None,
    )


# --- Settlement --------------------------------------------------------------------------------------


@dataclass
class Settlement:
    """What one finished request owes, ready to post; built by the gateway, posted in batches."""

    request_id: uuid.UUID
    hold_id: int
    buyer_ledger_id: int
    operator_ledger_id: int | None
    api_key_id: int
    key_has_limit: bool
    record: dict  # UsageRecord fields
    node_health: tuple | None = None  # (node id, ok, latency ms, error rate ppm)
    cost_nanos: int = field(init=False)

    def __post_init__(self):
        self.cost_nanos = self.record["cost_nanos"]


@dataclass
class SettleResult:
    request_id: uuid.UUID
    transaction_id: int | None
    replayed: bool = False


def settlement_build(
    *,
    admission: Admission,
    route,
    input_tokens: int,
    output_tokens: int,
    status: str,
    **record,
) -> Settlement:
    """Price a finished request exactly (input × input price + output × output price, split by setting)."""
    input_price = route.input_price_nanos if route else 0
    output_price = route.output_price_nanos if route else 0
    cost = money.request_cost(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        input_price_nanos=input_price,
        output_price_nanos=output_price,
    )
    operator_share, platform_share = money.revenue_split(cost)
    request = admission.request
    fields = dict(
        request_id=admission.request_id,
        account_id=admission.account_id,
        api_key_id=admission.api_key_id,
        model_id=request.model.id,
        node_id=route.node_id if route else None,
        endpoint=request.endpoint,
        stream=request.stream,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        input_price_nanos=input_price,
        output_price_nanos=output_price,
        cost_nanos=cost,
        operator_share_nanos=operator_share,
        platform_share_nanos=platform_share,
        status=status,
    )
    fields.update(record)
    return Settlement(
        request_id=admission.request_id,
        hold_id=admission.hold_id,
        buyer_ledger_id=admission.buyer_ledger_id,
        operator_ledger_id=route.operator_ledger_id if route else None,
        api_key_id=admission.api_key_id,
        key_has_limit=admission.key_has_limit,
        record=fields,
    )


def _posting(item: Settlement, platform_id: int) -> Posting:
    record = item.record
    legs = [(item.buyer_ledger_id, -item.cost_nanos)]
    if record["operator_share_nanos"]:
        legs.append((item.operator_ledger_id, record["operator_share_nanos"]))
    if record["platform_share_nanos"]:
        legs.append((platform_id, record["platform_share_nanos"]))
    return Posting(
        idempotency_key=f"usage:{item.request_id}",
        kind=Transaction.Kind.USAGE,
        legs=tuple(legs),
        memo=f"{record['input_tokens']} in + {record['output_tokens']} out",
        reference=f"usage:{item.request_id}",
        release_hold_id=item.hold_id,
    )


@transaction.atomic(savepoint=False)
def usage_settle_batch(*, items: list[Settlement]) -> list[SettleResult]:
    """Settle many finished requests in ONE database transaction (the gateway's group commit).

    For each: release its hold, post buyer −cost / operator +share / platform +share under
    `usage:<request id>`, and write its UsageRecord — all or nothing together. A request settled
    before (a retried batch) replays its transaction and keeps its one record.
    """
    platform_id = system_ledger_account_id("platform:revenue")
    paid = [item for item in items if item.cost_nanos > 0]
    free_holds = [item.hold_id for item in items if item.cost_nanos == 0]
    batch = transactions_post([_posting(item, platform_id) for item in paid], hold_releases=free_holds)
    results = {item.request_id: SettleResult(item.request_id, None) for item in items}
    for item, result in zip(paid, batch.results, strict=True):
        if result.error is not None:
            raise result.error  # the legs are built here; an error is a bug, and the batch must not commit
        results[item.request_id].transaction_id = result.transaction_id
        results[item.request_id].replayed = result.replayed
    UsageRecord.objects.bulk_create([UsageRecord(**item.record) for item in items], ignore_conflicts=True)

    # Keys with a spend limit: add this batch's spend, restarting the count in a new period.
    limited = {}
    for item in items:
        if item.key_has_limit and item.cost_nanos:
            limited[item.api_key_id] = limited.get(item.api_key_id, 0) + item.cost_nanos
    if limited:
        now = timezone.now()
        for key in APIKey.objects.filter(id__in=sorted(limited)).select_for_update().order_by("id"):
            start = period_start(key.spend_limit_period, now)
            fresh = key.period_started_at is None or key.period_started_at < start
            APIKey.objects.filter(id=key.id).update(
                period_spent_nanos=limited[key.id] if fresh else F("period_spent_nanos") + limited[key.id],
                period_started_at=start if fresh else key.period_started_at,
            )

    # Node health: one row update per node per batch, not per request.
    health = {}
    for item in items:
        if item.node_health:
            health[item.node_health[0]] = item.node_health
    if health:
        now = timezone.now()
        ok_ids = sorted(n for n, h in health.items() if h[1])
        bad_ids = sorted(n for n, h in health.items() if not h[1])
        latency = Case(
            *[When(id=n, then=Value(h[2])) for n, h in health.items()],
            default=F("latency_ms"),
            output_field=IntegerField(),
        )
        errors = Case(
            *[When(id=n, then=Value(h[3])) for n, h in health.items()],
            default=F("error_rate_ppm"),
            output_field=IntegerField(),
        )
        Node.objects.filter(id__in=sorted(health)).update(latency_ms=latency, error_rate_ppm=errors)
        if ok_ids:
            Node.objects.filter(id__in=ok_ids).update(last_success_at=now)
        if bad_ids:
            Node.objects.filter(id__in=bad_ids).update(last_error_at=now)
    return [results[item.request_id] for item in items]
