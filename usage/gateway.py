"""The OpenAI-compatible gateway: /v1/chat/completions, /v1/completions, /v1/models (async views).

One request: admission (key, validation, hold): on PostgreSQL on the event loop, through
usage/lean.py's plain ASGI path and async pool; elsewhere in one hop to a worker thread from the
Django views below. Then `answer`: routing over the cached routes ordered by health; the node's
answer proxied (streams pass through as they arrive) while the platform counts tokens and enforces
max_tokens; settlement handed to this process's group
commit (usage/settlement.py) and awaited before the last bytes, so the usage the client reads is the
usage stored. Every error is in OpenAI's shape.
"""

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from billing import money
from infer.unavailable import RETRY_AFTER_SECONDS

from . import nodes, selectors, tokenizers
from .models import UsageRecord
from .services import GatewayError, gateway_authenticate, request_admit, settlement_build
from .settlement import settler

Status = UsageRecord.Status
log = logging.getLogger(__name__)

_db_pool: ThreadPoolExecutor | None = None


def _in_db_thread(fn, *, retry_lost_connection: bool = False):
    """Run a sync (database) function off the event loop, in the gateway's own pool of threads.

    Each thread keeps its database connection. The loop's default pool has only cores + 4 threads,
    which at 16 concurrent requests left admissions queueing for a thread rather than the database.
    These threads get no request signals, so nothing else closes a connection the database dropped
    (a restart, a failover): a database error closes it here, and the next call opens a new one.
    With `retry_lost_connection`, a call that found its kept connection dead runs once more on a new
    one (only where a repeat is harmless: admission's worst case is a second hold, which expires).
    """
    global _db_pool
    if _db_pool is None:
        _db_pool = ThreadPoolExecutor(max_workers=settings.GATEWAY_DB_THREADS, thread_name_prefix="gateway-db")

    @functools.wraps(fn)
    def run(*args, **kwargs):
        reused = connection.connection is not None
        try:
            return fn(*args, **kwargs)
        except DatabaseError as exc:
            connection.close()
            if not (retry_lost_connection and reused and isinstance(exc, (OperationalError, InterfaceError))):
                raise
            log.warning("gateway: the database dropped a kept connection (%s); trying once on a new one", exc)
        return fn(*args, **kwargs)

    return sync_to_async(run, thread_sensitive=False, executor=_db_pool)


def _database_unavailable(exc: Exception) -> "Reply":
    log.error("gateway: database unavailable: %s", exc)
    reply = _error(
        503, "The service is briefly unavailable; you were not charged. Please retry.", code="service_unavailable"
    )
    reply.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)  # as /api/ does; the openai client honours it
    return reply


@dataclass
class Reply:
    """A gateway answer independent of the server: sent by the lean ASGI app (usage/lean.py) as is,
    or turned into a Django response by the views below (the portable path)."""

    status: int
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    headers: dict = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return "text/event-stream" if self.stream is not None else "application/json"

    def django(self) -> HttpResponse:
        if self.stream is not None:
            return StreamingHttpResponse(
                self.stream, status=self.status, content_type=self.content_type, headers=self.headers
            )
        return HttpResponse(self.body, status=self.status, content_type=self.content_type, headers=self.headers)


def json_reply(data, *, status: int = 200, headers: dict | None = None) -> Reply:
    return Reply(status, orjson.dumps(data), headers=headers or {})


def error_response(exc: GatewayError) -> Reply:
    return json_reply(exc.body(), status=exc.status_code)


def _error(status, message, *, type="server_error", code=None):
    return error_response(GatewayError(message, status_code=status, type=type, code=code))


# --- Node health (this process's view; the settlement batches persist it) ----------------------------


@dataclass
class Health:
    latency_ms: float = 0.0
    error_rate: float = 0.0  # exponentially weighted share of failed requests
    persisted_at: float = 0.0  # when a settlement last carried it to the database
    last_ok: bool = True


_health: dict[int, Health] = {}
ALPHA = 0.1


def health_note(node_id: int, *, ok: bool, latency_ms: float | None = None) -> tuple | None:
    """Update this process's view of a node; return it for the database at most once a second
    (and whenever the node's state flips), so a busy node's row is not rewritten by every batch."""
    health = _health.setdefault(node_id, Health())
    health.error_rate = (1 - ALPHA) * health.error_rate + ALPHA * (0.0 if ok else 1.0)
    if latency_ms is not None:
        health.latency_ms = (
            latency_ms if not health.latency_ms else (1 - ALPHA) * health.latency_ms + ALPHA * latency_ms
        )
    now = time.monotonic()
    if ok == health.last_ok and now - health.persisted_at < 1.0:
        return None
    health.persisted_at, health.last_ok = now, ok
    return (node_id, ok, int(health.latency_ms), int(health.error_rate * 1_000_000))


def routes_ordered(routes):
    """Healthy nodes first, then by price (input + output per token), then recent latency and errors."""
    limit = settings.GATEWAY_UNHEALTHY_ERROR_RATE_PERCENT / 100

    def key(route):
        health = _health.get(route.node_id) or Health()
        return (
            health.error_rate > limit,
            route.input_price_nanos + route.output_price_nanos,
            round(health.latency_ms),
            health.error_rate,
        )

    return sorted(routes, key=key)


# --- Request handling ----------------------------------------------------------------------------------


def _usage_body(settlement) -> dict:
    record = settlement.record
    return {
        "prompt_tokens": record["input_tokens"],
        "completion_tokens": record["output_tokens"],
        "total_tokens": record["input_tokens"] + record["output_tokens"],
        # USD as an exact decimal string (no floats), and the same in integer nano-dollars.
        "cost": str(money.nanos_to_usd(record["cost_nanos"])),
        "cost_nanos": record["cost_nanos"],
        "verified": record["verified"],
    }


class NodeFailed(Exception):
    """The node failed before any output: try the next one."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _upstream_body(admission, route) -> dict:
    body = dict(admission.request.payload)
    body["model"] = route.upstream_model
    body.pop("max_completion_tokens", None)
    body["max_tokens"] = admission.max_tokens
    if admission.request.stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _url(admission, route) -> str:
    path = "/chat/completions" if admission.request.endpoint == "chat" else "/completions"
    return route.base_url + path


def _meter(admission, *, text: str, node_usage: dict | None):
    """(input tokens, output tokens, verified, node input, node output, disagreement) to bill."""
    node_in = node_out = None
    if isinstance(node_usage, dict):
        node_in = node_usage.get("prompt_tokens")
        node_out = node_usage.get("completion_tokens")
        node_in = node_in if isinstance(node_in, int) and node_in >= 0 else None
        node_out = node_out if isinstance(node_out, int) and node_out >= 0 else None
    name = admission.request.model.tokenizer
    if admission.prompt_tokens is not None:
        own_in = admission.prompt_tokens
        own_out = min(tokenizers.count_text(name, text), admission.max_tokens)
        percent, absolute = settings.GATEWAY_METERING_TOLERANCE_PERCENT, settings.GATEWAY_METERING_TOLERANCE_TOKENS
        disagree = any(
            theirs is not None and theirs > ours + ours * percent // 100 + absolute
            for theirs, ours in ((node_in, own_in), (node_out, own_out))
        )
        return own_in, own_out, True, node_in, node_out, disagree
    # No tokenizer ships for this model: bill the node's count, never beyond what the hold assumed.
    est_out = len(text.encode()) // 4 + (1 if text else 0)
    billed_in = min(node_in if node_in is not None else admission.prompt_bound, admission.prompt_bound)
    billed_out = min(node_out if node_out is not None else est_out, admission.max_tokens)
    return billed_in, billed_out, False, node_in, node_out, False


# Request ids handed to settlement by a view still running (so a cancelled view knows whether to).
_settled: set = set()


async def _settle(settlement, *, wait: bool = True):
    """Hand a settlement to the group commit; by default wait until it is committed.

    GATEWAY_AWAIT_SETTLEMENT off answers without waiting for the commit: the cost is already fixed,
    and a settlement that never commits (the process dies) leaves only a hold that expires, so the
    buyer is never charged twice, but that request goes unbilled.
    """
    _settled.add(settlement.request_id)
    future = settler().submit(settlement)
    if wait and settings.GATEWAY_AWAIT_SETTLEMENT:
        return await asyncio.wrap_future(future)
    return None


def _settle_free(admission, *, route, status, error_code, started):
    """A request that produced nothing: its hold is released and it is recorded at no cost."""
    return settlement_build(
        admission=admission,
        route=route,
        input_tokens=0,
        output_tokens=0,
        status=status,
        error_code=error_code,
        verified=admission.prompt_tokens is not None,
        latency_ms=int((time.monotonic() - started) * 1000),
    )


def _text_of(body: dict, endpoint: str) -> str | None:
    choices = body.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    if endpoint == "chat":
        message = choice.get("message")
        if not isinstance(message, dict):
            return None
        content = message.get("content")
        return content if isinstance(content, str) else ("" if content is None else None)
    text = choice.get("text")
    return text if isinstance(text, str) else None


async def _complete(admission, started):
    """A non-streamed request: the first node that answers well wins; nothing is billed otherwise."""
    last_code = "no_capacity"
    for route in routes_ordered(admission.routes):
        t0 = time.monotonic()
        try:
            response = await nodes.post(
                _url(admission, route),
                body=orjson.dumps(_upstream_body(admission, route)),
                headers=nodes.headers_for(route.api_key),
            )
            if response.status_code >= 500 or response.status_code in (401, 403, 404, 429):
                raise NodeFailed(f"node_http_{response.status_code}")
            if response.status_code >= 400:
                return await _node_refused(admission, route, response, started)
            try:
                body = orjson.loads(response.content)
            except ValueError:
                raise NodeFailed("node_bad_response")
            if not isinstance(body, dict):
                raise NodeFailed("node_bad_response")
            text = _text_of(body, admission.request.endpoint)
            if text is None:
                raise NodeFailed("node_bad_response")
        except (NodeFailed, nodes.NodeError) as exc:
            last_code = exc.code if isinstance(exc, NodeFailed) else "node_unreachable"
            health_note(route.node_id, ok=False)
            continue
        latency = (time.monotonic() - t0) * 1000
        node_health = health_note(route.node_id, ok=True, latency_ms=latency)
        name = admission.request.model.tokenizer
        choice = body["choices"][0]
        if admission.prompt_tokens is not None and tokenizers.count_text(name, text) > admission.max_tokens:
            # max_tokens enforced: the buyer receives (and pays for) no more than asked.
            text = tokenizers.truncate_text(name, text, admission.max_tokens)
            choice["finish_reason"] = "length"
            if admission.request.endpoint == "chat":
                choice["message"]["content"] = text
            else:
                choice["text"] = text
        billed_in, billed_out, verified, node_in, node_out, disagree = _meter(
            admission, text=text, node_usage=body.get("usage")
        )
        elapsed = int((time.monotonic() - started) * 1000)
        settlement = settlement_build(
            admission=admission,
            route=route,
            input_tokens=billed_in,
            output_tokens=billed_out,
            status=Status.SUCCESS,
            verified=verified,
            node_input_tokens=node_in,
            node_output_tokens=node_out,
            metering_disagreement=disagree,
            latency_ms=elapsed,
            ttft_ms=elapsed,
        )
        settlement.node_health = node_health
        await _settle(settlement)
        body["model"] = admission.request.model.model_id
        body["usage"] = _usage_body(settlement)
        return json_reply(body, headers={"X-Request-Id": str(admission.request_id)})
    await _settle(_settle_free(admission, route=None, status=Status.ERROR, error_code=last_code, started=started))
    return _error(502, "No node could serve this request; you were not charged.", code=last_code)


async def _node_refused(admission, route, response, started):
    """The node rejected the request itself (400/422): the client's request is at fault; no charge."""
    try:
        message = orjson.loads(response.content)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = "The node rejected this request."
    await _settle(
        _settle_free(admission, route=route, status=Status.ERROR, error_code="node_rejected", started=started)
    )
    return _error(400, str(message)[:500], type="invalid_request_error", code="node_rejected")


async def _sse_events(response):
    """The `data:` payloads of a server-sent-events body, as they arrive."""
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield line[5:].strip()


def _chunk_text(event: dict, endpoint: str) -> str:
    choices = event.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    if endpoint == "chat":
        delta = choices[0].get("delta") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        return content if isinstance(content, str) else ""
    text = choices[0].get("text")
    return text if isinstance(text, str) else ""


def _set_chunk_text(event: dict, endpoint: str, text: str):
    if endpoint == "chat":
        event["choices"][0]["delta"]["content"] = text
    else:
        event["choices"][0]["text"] = text


class _Stream:
    """One streamed answer being relayed: what was delivered, and the upstream response."""

    def __init__(self, admission, route, response, started, t0):
        self.admission = admission
        self.route = route
        self.response = response
        self.started = started
        self.t0 = t0
        self.events = _sse_events(response)
        self.pending: list[bytes] = []  # read before the first token, sent once we commit to this node
        self.text = ""
        self.chunks = 0
        self.node_usage = None
        self.ttft_ms = None
        self.template = None  # id/created/model of the node's chunks, for the usage chunk we add
        self.finished = False
        self.truncated = False

    def _handle(self, data: str) -> bytes | None:
        """Bytes to relay for one event (None: swallow it); raises ValueError on an unexpected shape."""
        if data == "[DONE]":
            self.finished = True
            return None
        event = orjson.loads(data)
        if not isinstance(event, dict) or not isinstance(event.get("choices", []), list):
            raise ValueError("unexpected chunk")
        if self.template is None:
            self.template = {k: event.get(k) for k in ("id", "object", "created")}
        endpoint = self.admission.request.endpoint
        usage = event.pop("usage", None)
        if usage:
            self.node_usage = usage
            if not event.get("choices"):
                return None
        piece = _chunk_text(event, endpoint)
        if piece:
            if self.truncated:
                return None
            name = self.admission.request.model.tokenizer
            limit = self.admission.max_tokens
            candidate = self.text + piece
            # Every token is at least one byte: below max_tokens bytes no count is needed.
            over = False
            if self.admission.prompt_tokens is not None:
                over = len(candidate.encode()) >= limit and tokenizers.count_text(name, candidate) > limit
            else:
                over = self.chunks >= limit
            if over:
                verified = self.admission.prompt_tokens is not None
                kept = tokenizers.truncate_text(name, candidate, limit) if verified else self.text
                piece = kept[len(self.text) :] if kept.startswith(self.text) else ""
                self.truncated = True
                event["choices"][0]["finish_reason"] = "length"
                _set_chunk_text(event, endpoint, piece)
            self.text += piece
            self.chunks += 1
            if self.ttft_ms is None:
                self.ttft_ms = int((time.monotonic() - self.started) * 1000)
        elif self.truncated and event.get("choices") and event["choices"][0].get("finish_reason"):
            return None  # we already ended the answer with finish_reason "length"
        event["model"] = self.admission.request.model.model_id
        return b"data: " + orjson.dumps(event) + b"\n\n"

    async def prime(self):
        """Read until the first token (or the end); a failure here is still a failover."""
        async for data in self.events:
            out = self._handle(data)
            if out:
                self.pending.append(out)
            if self.text or self.finished:
                return
        raise NodeFailed("node_bad_response")  # ended with no token and no [DONE]: not a stream we know

    def usage_chunk(self, settlement) -> bytes:
        template = self.template or {"id": f"chatcmpl-{self.admission.request_id.hex}", "created": int(time.time())}
        endpoint = self.admission.request.endpoint
        chunk = {
            "id": template.get("id"),
            "object": template.get("object") or ("chat.completion.chunk" if endpoint == "chat" else "text_completion"),
            "created": template.get("created"),
            "model": self.admission.request.model.model_id,
            "choices": [],
            "usage": _usage_body(settlement),
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def _stream(admission, started):
    last_code = "no_capacity"
    for route in routes_ordered(admission.routes):
        t0 = time.monotonic()
        response = None
        try:
            response = await nodes.post(
                _url(admission, route),
                body=orjson.dumps(_upstream_body(admission, route)),
                headers=nodes.headers_for(route.api_key),
                stream=True,
            )
            if response.status_code >= 500 or response.status_code in (401, 403, 404, 429):
                raise NodeFailed(f"node_http_{response.status_code}")
            if response.status_code >= 400:
                await response.aread()
                return await _node_refused(admission, route, response, started)
            stream = _Stream(admission, route, response, started, t0)
            await stream.prime()
        except (NodeFailed, nodes.NodeError, ValueError) as exc:
            if response is not None:
                await response.aclose()
            last_code = exc.code if isinstance(exc, NodeFailed) else "node_unreachable"
            if isinstance(exc, ValueError):
                last_code = "node_bad_response"
            health_note(route.node_id, ok=False)
            continue
        return Reply(
            200,
            stream=_relay(stream),
            headers={"Cache-Control": "no-cache", "X-Request-Id": str(admission.request_id)},
        )
    await _settle(_settle_free(admission, route=None, status=Status.ERROR, error_code=last_code, started=started))
    return _error(502, "No node could serve this request; you were not charged.", code=last_code)


async def _relay(stream: _Stream):
    """Relay the stream; settle exactly once however it ends (done, node died, client left)."""
    admission = stream.admission
    status, error_code, settled = Status.SUCCESS, "", False

    def settlement():
        billed_in, billed_out, verified, node_in, node_out, disagree = _meter(
            admission, text=stream.text, node_usage=stream.node_usage
        )
        item = settlement_build(
            admission=admission,
            route=stream.route,
            input_tokens=billed_in,
            output_tokens=billed_out,
            status=status,
            error_code=error_code,
            verified=verified,
            node_input_tokens=node_in,
            node_output_tokens=node_out,
            metering_disagreement=disagree,
            latency_ms=int((time.monotonic() - stream.started) * 1000),
            ttft_ms=stream.ttft_ms,
        )
        ok = status != Status.NODE_FAILED
        item.node_health = health_note(stream.route.node_id, ok=ok, latency_ms=(stream.ttft_ms or 0) if ok else None)
        return item

    try:
        for out in stream.pending:
            yield out
        if not stream.finished and not stream.truncated:
            try:
                async for data in stream.events:
                    out = stream._handle(data)
                    if out:
                        yield out
                    if stream.finished or stream.truncated:
                        break
            except (nodes.NodeError, ValueError):
                # The node died mid-stream: the buyer pays for what was delivered, and the record says so.
                status, error_code = Status.NODE_FAILED, "node_died_mid_stream"
        item = settlement()
        settled = True
        try:
            await _settle(item)
        except DatabaseError as exc:
            # The status line went out long ago: end the stream with an OpenAI-style error event
            # rather than a cut connection. The batch rolled back, so nothing is charged; the hold expires.
            log.error("gateway: settlement of %s failed: %s", admission.request_id, exc)
            error = GatewayError(
                "The service is briefly unavailable; this answer was not charged. Please retry.",
                status_code=503,
                type="server_error",
                code="service_unavailable",
            )
            yield b"data: " + orjson.dumps(error.body()) + b"\n\n"
            return
        yield stream.usage_chunk(item) + b"data: [DONE]\n\n"
        if stream.finished and not stream.truncated:
            await _drain(stream)
    except (asyncio.CancelledError, GeneratorExit):
        if not settled:
            # The client hung up: it pays for what was generated so far. Settled without waiting,
            # because this task is being torn down; the settler thread finishes it.
            status, error_code = Status.CLIENT_CLOSED, "client_closed"
            settled = True
            await _settle(settlement(), wait=False)
        raise
    finally:
        # `answer` forgot this request id when it returned the stream; the settlement above added it again.
        _settled.discard(admission.request_id)
        await stream.response.aclose()


async def _drain(stream: _Stream) -> None:
    """Read a finished stream to its end, so its connection goes back to the pool: closing a response
    before its last chunk would drop the connection, and every streamed request would open a new one.
    Bounded, for a node that keeps its connection open after [DONE]."""

    async def rest():
        async for _ in stream.events:
            pass

    try:
        await asyncio.wait_for(rest(), timeout=1.0)
    except (TimeoutError, nodes.NodeError, ValueError):
        pass


def too_large() -> Reply:
    return _error(413, "The request body is too large.", type="invalid_request_error", code="body_too_large")


async def _handle(request, endpoint):
    """The portable path (any database): Django's request, admission in a worker thread."""
    started = time.monotonic()
    if request.method != "POST":
        return _error(405, "Use POST for this endpoint.", type="invalid_request_error", code="method_not_allowed")
    length = request.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > settings.GATEWAY_MAX_BODY_BYTES:
        return too_large()
    body = request.body
    if len(body) > settings.GATEWAY_MAX_BODY_BYTES:
        return too_large()
    try:
        admission = await _in_db_thread(request_admit, retry_lost_connection=True)(
            authorization=request.headers.get("Authorization"), body=body, endpoint=endpoint
        )
    except GatewayError as exc:
        return error_response(exc)
    except DatabaseError as exc:
        return _database_unavailable(exc)
    return await answer(admission, started)


async def answer(admission, started: float) -> Reply:
    """Route, proxy and settle an admitted request (both paths)."""
    try:
        if admission.request.stream:
            return await _stream(admission, started)
        return await _complete(admission, started)
    except DatabaseError as exc:
        # The settlement did not commit (the batch is all-or-nothing): the hold expires, nothing is charged.
        return _database_unavailable(exc)
    except asyncio.CancelledError:
        # The client hung up before any answer reached it: nothing delivered, nothing charged, and
        # the hold is released now rather than at its expiry.
        if admission.request_id not in _settled:
            free = _settle_free(
                admission, route=None, status=Status.CLIENT_CLOSED, error_code="client_closed", started=started
            )
            await _settle(free, wait=False)
        raise
    finally:
        _settled.discard(admission.request_id)


@csrf_exempt
async def chat_completions(request):
    return (await _handle(request, "chat")).django()


@csrf_exempt
async def completions(request):
    return (await _handle(request, "completions")).django()


async def models(request):
    """Models with at least one active node, their tier, context and price range per 1M tokens (USD)."""
    if request.method != "GET":
        return _error(
            405, "Use GET for this endpoint.", type="invalid_request_error", code="method_not_allowed"
        ).django()
    try:
        await _in_db_thread(gateway_authenticate, retry_lost_connection=True)(
            authorization=request.headers.get("Authorization")
        )
        rows = await _in_db_thread(selectors.models_available, retry_lost_connection=True)()
    except GatewayError as exc:
        return error_response(exc).django()
    except DatabaseError as exc:
        return _database_unavailable(exc).django()

    def per_1m(nanos):
        return str(money.nanos_to_price_per_1m(nanos))

    data = [
        {
            "id": row["model"].model_id,
            "object": "model",
            "created": 0,
            "owned_by": "infer",
            "name": row["model"].display_name,
            "tier": row["model"].tier.slug,
            "context_length": row["model"].context_length,
            "nodes": row["nodes"],
            "pricing": {
                "unit": "USD per 1M tokens",
                "input": {"min": per_1m(row["input"][0]), "max": per_1m(row["input"][1])},
                "output": {"min": per_1m(row["output"][0]), "max": per_1m(row["output"][1])},
            },
        }
        for row in rows
    ]
    return JsonResponse({"object": "list", "data": data})


async def not_found(request, path=""):
    return _error(404, f"Unknown endpoint /v1/{path}", type="invalid_request_error", code="unknown_url").django()
