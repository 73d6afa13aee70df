"""Writes for usage: nodes, admission of a request (key, limits, hold) and the batched settlement."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.db import connection, transaction
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
from infer.bounded_cache import BoundedCache
from infer.errors import ApplicationError

from . import nodes, selectors, tokenizers
from .models import Node, NodeModel, UsageRecord, UsageRollupState


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
    """A node's base URL, ending in /v1; anything that is not a plain http(s) address is refused."""
    base_url = (base_url or "").strip().rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ApplicationError("A node's URL starts with http:// or https://", code="invalid_url")
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range or not a number
    except ValueError:
        raise ApplicationError("That is not a valid URL: check the host and port.", code="invalid_url") from None
    if not parts.hostname or any(c.isspace() for c in base_url):
        raise ApplicationError(
            "A node's URL needs a host name or IP address, e.g. https://gpu1.example.com", code="invalid_url"
        )
    if parts.username or parts.password:
        # Credentials in a URL end up in logs; the node's key has its own field.
        raise ApplicationError("Put the node's key in the key field, not in the URL.", code="invalid_url")
    if parts.query or parts.fragment:
        raise ApplicationError("A node's URL has no query (?...) or fragment (#...).", code="invalid_url")
    base_url = base_url if base_url.endswith("/v1") else base_url + "/v1"
    if len(base_url) > Node._meta.get_field("base_url").max_length:
        raise ApplicationError("That URL is too long (300 characters at most).", code="invalid_url")
    return base_url


@transaction.atomic
def node_create(
    *,
    account: Account,
    name: str,
    base_url: str,
    api_key: str = "",
    model_ids=(),
    status: str = Node.Status.ACTIVE,
) -> Node:
    """Register an operator's node and the catalog models it serves (at tier prices until set).

    The portal registers nodes INACTIVE and activates them after a test call (node_register);
    seed data, the benchmark and tests create them active directly.
    """
    if not account.is_operator:
        raise ApplicationError("Only operator accounts run nodes", code="not_operator")
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Give the node a name", code="invalid_name")
    if len(name) > 100:
        raise ApplicationError("A node's name has at most 100 characters", code="invalid_name")
    base_url = _normalize_base_url(base_url)
    if Node.objects.filter(account=account, name__iexact=name).exists():
        raise ApplicationError(f"You already have a node named {name!r}: choose another name.", code="duplicate_name")
    node = Node.objects.create(account=account, name=name, base_url=base_url, api_key=api_key, status=status)
    for model_id in model_ids:
        node_model_set(node=node, model_id=model_id)
    selectors.routes_cache_clear()
    return node


def node_register(*, account: Account, name: str, base_url: str, api_key: str, model_ids) -> Node:
    """The portal's registration: create the node inactive, then test it; it goes live only if that works.

    Not atomic on purpose: the test call reaches the node over the network, outside any transaction.
    """
    model_ids = list(dict.fromkeys(model_ids))
    if not model_ids:
        raise ApplicationError("Choose at least one model the node serves.", code="no_models")
    # A DNS lookup: before node_create's transaction, like every outside call.
    refused = nodes.address_check(base_url=_normalize_base_url(base_url))
    if refused:
        raise ApplicationError(refused, code="invalid_url")
    node = node_create(
        account=account,
        name=name,
        base_url=base_url,
        api_key=(api_key or "").strip(),
        model_ids=model_ids,
        status=Node.Status.INACTIVE,
    )
    node_check(node=node)
    node.refresh_from_db()
    return node


# How many of a node's models a test call tries: enough to catch a wrong model name, few enough to be quick.
NODE_CHECK_MAX_MODELS = 3


def node_check(*, node: Node) -> str:
    """Send a node a test request per served model (a few); activate an inactive node when all answer.

    Returns "" on success, else the reason, which is also kept on the node for the portal to show.
    """
    served = list(
        NodeModel.objects.filter(node=node).select_related("model").order_by("model__model_id")[:NODE_CHECK_MAX_MODELS]
    )
    if not served:
        error = "The node serves no model yet: choose at least one."
    else:
        error = ""
        for row in served:
            error = nodes.test_call(
                base_url=node.base_url, api_key=node.api_key, model=row.upstream_name or row.model.model_id
            )
            if error:
                break
    _node_check_record(node_id=node.id, error=error)
    return error


@transaction.atomic
def _node_check_record(*, node_id: int, error: str) -> None:
    Node.objects.filter(id=node_id).update(checked_at=timezone.now(), check_error=error[:500])
    if not error:
        # Only a node waiting for its first test goes live; a paused or suspended one stays as it is.
        Node.objects.filter(id=node_id, status=Node.Status.INACTIVE).update(status=Node.Status.ACTIVE)
    selectors.routes_cache_clear()


@transaction.atomic
def node_pause(*, node: Node) -> None:
    """The operator takes an active node out of routing (maintenance); requests go to other nodes."""
    # Conditional update: a suspension by staff racing with this must not be overwritten.
    if not Node.objects.filter(id=node.id, status=Node.Status.ACTIVE).update(status=Node.Status.PAUSED):
        raise ApplicationError("Only an active node can be paused.", code="not_active")
    selectors.routes_cache_clear()


@transaction.atomic
def node_resume(*, node: Node) -> None:
    """Put a paused node back into routing. A suspended node waits for staff; an inactive one for its test."""
    if Node.objects.filter(id=node.id, status=Node.Status.PAUSED).update(status=Node.Status.ACTIVE):
        selectors.routes_cache_clear()
        return
    current = Node.objects.get(id=node.id)
    if current.status == Node.Status.SUSPENDED:
        reason = f" ({current.suspended_reason})" if current.suspended_reason else ""
        raise ApplicationError(f"This node was suspended by staff{reason}; contact support.", code="suspended")
    if current.status == Node.Status.INACTIVE:
        raise ApplicationError("This node has not passed its test call yet: test it again.", code="not_tested")
    raise ApplicationError("This node is already active.", code="already_active")


@transaction.atomic
def node_prices_set(*, node: Node, prices: dict) -> None:
    """Set a node's prices for the models it serves: {model_id: (input nanos or None, output nanos or None)}.

    None is the tier default. Routes are re-read at once in this process (others within
    GATEWAY_ROUTE_CACHE_SECONDS), so the next request is priced at the new price.
    """
    served = set(NodeModel.objects.filter(node=node).values_list("model__model_id", flat=True))
    for model_id, (input_nanos, output_nanos) in prices.items():
        if model_id not in served:
            raise ApplicationError(f"This node does not serve {model_id!r}.", code="unknown_model")
        node_model_set(node=node, model_id=model_id, input_price_nanos=input_nanos, output_price_nanos=output_nanos)
    selectors.routes_cache_clear()


# $1,000 per 1K tokens: far above any real price, and it keeps a request's hold (context × price)
# well inside a 64-bit column.
MAX_PRICE_NANOS_PER_TOKEN = 1_000_000_000


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
        if price is not None and price > MAX_PRICE_NANOS_PER_TOKEN:
            raise ApplicationError("A price is at most $1,000 per 1K tokens.", code="invalid_price")
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
    suspended = Node.objects.filter(account=account, status=Node.Status.SUSPENDED)
    # A node whose last test call failed was never live: it goes back to waiting for a passing test.
    count = suspended.exclude(check_error="").update(status=Node.Status.INACTIVE, suspended_reason="")
    count += suspended.update(status=Node.Status.ACTIVE, suspended_reason="")
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


def request_decode(body: bytes):
    """The JSON of a request body (orjson: the gateway's hot path), or a 400 in OpenAI's shape."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise GatewayError("We could not parse the JSON body of your request.", code="invalid_json")


def request_parse(*, payload, endpoint: str) -> ParsedRequest:
    """Validate a decoded OpenAI chat/completions request; raise GatewayError (400/404) when it is wrong."""
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


# account id -> buyer ledger account id (never changes); bounded, so it does not grow with every tenant.
_buyer_ledger_ids = BoundedCache(10_000)


def _buyer_ledger_id(account_id: int) -> int:
    ledger_id = _buyer_ledger_ids.get(account_id)
    if ledger_id is None:
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
    return ledger_id


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

    The portable path (Django's connection, in a worker thread); on PostgreSQL the gateway admits
    on its event loop instead (usage/lean.py), with the same rules through `admission_prepare`.
    """
    key = gateway_authenticate(authorization=authorization)
    now = timezone.now()
    admission = admission_prepare(
        key=key,
        buyer_ledger_id=_buyer_ledger_id(key.account_id),
        payload=request_decode(body),
        endpoint=endpoint,
        now=now,
    )
    try:
        admission.hold_id = hold_place_request(
            ledger_account_id=admission.buyer_ledger_id,
            amount_nanos=admission.hold_nanos,
            key=f"request:{admission.request_id}",
        )
    except AdmissionRefused as exc:
        raise admission_refusal(exc, account_id=key.account_id)
    api_key_touch(api_key=key, now=now)
    return admission


def admission_refusal(exc: AdmissionRefused, *, account_id: int) -> GatewayError:
    """The 402 for a refused hold: a dispute that left the balance negative is named as the reason."""
    if exc.code == "insufficient_balance" and account_blocked_by_dispute(Account.objects.get(id=account_id)):
        exc = BalanceDisputed()  # checked only on refusal: it costs a request in good standing nothing
    return GatewayError(exc.message, status_code=402, type="payment_required", code=exc.code)


def admission_prepare(*, key, buyer_ledger_id: int, payload, endpoint: str, now: datetime) -> Admission:
    """Everything of admission but the hold: validate, check the key's spend limit, route, size the hold.

    `key` is an APIKey or any object with its spend-limit fields. The hold is the request's maximum
    cost at the most expensive node it might be routed to (so failover never exceeds it): prompt
    tokens (our count, or an upper bound without a tokenizer) plus max_tokens (when absent: what is
    left of the context), capped by the model's context. Reads only the route cache (a stale cache
    queries the database: callers on an event loop check `selectors.routes_fresh` first).
    """
    request = request_parse(payload=payload, endpoint=endpoint)
    model = request.model
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
    return Admission(
        request_id=uuid.uuid4(),
        api_key_id=key.id,
        account_id=key.account_id,
        buyer_ledger_id=buyer_ledger_id,
        request=request,
        routes=routes,
        prompt_tokens=prompt_tokens,
        prompt_bound=bound,
        max_tokens=max_tokens,
        hold_id=0,
        hold_nanos=bound * input_price + max_tokens * output_price,
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


# UsageRecord columns and the defaults of those a Settlement's record may leave out.
_RECORD_TYPES = {
    "request_id": "uuid",
    "account_id": "bigint",
    "api_key_id": "bigint",
    "model_id": "bigint",
    "node_id": "bigint",
    "endpoint": "text",
    "stream": "boolean",
    "input_tokens": "integer",
    "output_tokens": "integer",
    "node_input_tokens": "integer",
    "node_output_tokens": "integer",
    "verified": "boolean",
    "metering_disagreement": "boolean",
    "input_price_nanos": "bigint",
    "output_price_nanos": "bigint",
    "cost_nanos": "bigint",
    "operator_share_nanos": "bigint",
    "platform_share_nanos": "bigint",
    "latency_ms": "integer",
    "ttft_ms": "integer",
    "status": "text",
    "error_code": "text",
    "created_at": "timestamptz",
}
_RECORD_DEFAULTS = {
    "node_input_tokens": None,
    "node_output_tokens": None,
    "verified": False,
    "metering_disagreement": False,
    "latency_ms": 0,
    "ttft_ms": None,
    "error_code": "",
}
# Built from the constants above only (no input reaches the SQL text).
_INSERT_RECORDS = (
    f"INSERT INTO usage_usagerecord ({', '.join(_RECORD_TYPES)}) "  # noqa: S608
    f"SELECT * FROM unnest({', '.join(f'%s::{kind}[]' for kind in _RECORD_TYPES.values())}) "
    "ON CONFLICT (request_id) DO NOTHING"
)


def usage_records_write(*, records: list[dict]) -> None:
    """Insert UsageRecords (a record already written, by a retried batch, is kept as it was).

    On PostgreSQL one statement of column arrays, without model instances (the settlement batch is on
    the gateway's hot path, and building a model instance per request was most of its Python time).
    """
    if connection.vendor != "postgresql":
        UsageRecord.objects.bulk_create([UsageRecord(**record) for record in records], ignore_conflicts=True)
        return
    now = timezone.now()
    defaults = {**_RECORD_DEFAULTS, "created_at": now}
    columns = [[record.get(name, defaults.get(name)) for record in records] for name in _RECORD_TYPES]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_RECORDS, columns)


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
    usage_records_write(records=[item.record for item in items])

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


# --- Daily rollup and retention -------------------------------------------------------------------

# Sums UsageRecords with ids in (%(low)s, %(high)s] into their UsageDaily rows, adding to what is there.
_ROLLUP_SQL = """
INSERT INTO usage_usagedaily AS d (
    day, account_id, operator_account_id, node_id, model_id,
    requests, errors, input_tokens, output_tokens, cost_nanos, operator_share_nanos, platform_share_nanos
)
SELECT (r.created_at AT TIME ZONE 'UTC')::date, r.account_id, n.account_id, r.node_id, r.model_id,
       count(*), count(*) FILTER (WHERE r.status IN ('error', 'node_failed')),
       sum(r.input_tokens), sum(r.output_tokens), sum(r.cost_nanos),
       sum(r.operator_share_nanos), sum(r.platform_share_nanos)
FROM usage_usagerecord r LEFT JOIN usage_node n ON n.id = r.node_id
WHERE r.id > %(low)s AND r.id <= %(high)s
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT ON CONSTRAINT usagedaily_grain DO UPDATE SET
    requests = d.requests + EXCLUDED.requests,
    errors = d.errors + EXCLUDED.errors,
    input_tokens = d.input_tokens + EXCLUDED.input_tokens,
    output_tokens = d.output_tokens + EXCLUDED.output_tokens,
    cost_nanos = d.cost_nanos + EXCLUDED.cost_nanos,
    operator_share_nanos = d.operator_share_nanos + EXCLUDED.operator_share_nanos,
    platform_share_nanos = d.platform_share_nanos + EXCLUDED.platform_share_nanos
"""


@transaction.atomic
def _rollup_step(*, cutoff: datetime, batch_size: int) -> int:
    # The state row is locked for the whole step: two workers running the task at once take turns,
    # and the sums and the watermark commit together, so a crash or a rerun never counts twice.
    UsageRollupState.objects.get_or_create(id=1)
    state = UsageRollupState.objects.select_for_update().get(id=1)
    low = state.last_record_id
    # The watermark moves only to records created before the cutoff (now − USAGE_ROLLUP_LAG_SECONDS).
    # Ids come from a sequence at insert, and settlement transactions last milliseconds, so when a
    # record older than the lag is visible, every record with a smaller id has committed too: no
    # record can appear below the watermark later.
    # The batch stops at the first record not yet past the lag, so the watermark never skips a record.
    ids = []
    for record_id, created_at in (
        UsageRecord.objects.filter(id__gt=low).order_by("id").values_list("id", "created_at")[:batch_size]
    ):
        if created_at >= cutoff:
            break
        ids.append(record_id)
    if not ids:
        return 0
    high = ids[-1]
    with connection.cursor() as cursor:
        cursor.execute(_ROLLUP_SQL, {"low": low, "high": high})
    UsageRollupState.objects.filter(id=1).update(last_record_id=high, updated_at=timezone.now())
    return len(ids)


def usage_rollup(*, now: datetime | None = None, batch_size: int = 50_000) -> int:
    """Add the usage records past the watermark to UsageDaily, in batches; returns how many were summed.

    Incremental and exact: each record is summed once, in the transaction that moves the watermark
    past its id. Chosen over summing inside the settlement transaction because that would make every
    batch of the gateway's group commit update the same hot rows (a busy buyer's day), the one
    contention the ledger's design avoids.
    """
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.USAGE_ROLLUP_LAG_SECONDS)
    total = 0
    while True:
        done = _rollup_step(cutoff=cutoff, batch_size=batch_size)
        total += done
        if done < batch_size:
            return total


def usage_records_purge(*, now: datetime | None = None, batch_size: int = 10_000) -> int:
    """Delete usage records older than USAGE_RETENTION_DAYS, in short batches; returns how many.

    Only records already summed into UsageDaily are deleted, so charts and summaries keep their
    history. Each batch is its own transaction to keep locks and WAL bursts small.
    """
    if not settings.USAGE_RETENTION_DAYS:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=settings.USAGE_RETENTION_DAYS)
    watermark = UsageRollupState.objects.filter(id=1).values_list("last_record_id", flat=True).first() or 0
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                # Oldest first by primary key (ids grow with time): no created_at index needed, and
                # none wanted, since it lures the planner away from the account index on /api/usage.
                UsageRecord.objects.filter(created_at__lt=cutoff, id__lte=watermark)
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if ids:
                UsageRecord.objects.filter(id__in=ids).delete()
        total += len(ids)
        if len(ids) < batch_size:
            return total
