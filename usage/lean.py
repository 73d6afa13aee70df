"""The lean path of POST /v1/chat/completions and /v1/completions on PostgreSQL: plain ASGI, admission on the loop.

Django's request handling (request objects, URL resolving, signals, response objects) and the hop
of every admission to a worker thread were a third of the gateway's CPU per request. Here the two
hot endpoints are served by a small ASGI function: the key is looked up and the hold placed through
an async psycopg pool on the event loop, in one round trip, with the rules of the portable path
(usage.services.admission_prepare is shared; the key checks mirror accounts.authentication). The
rest of the request (routing, proxying, metering, group-committed settlement) is usage.gateway's.

The pool's sessions run with synchronous_commit off, like `hold_place_request`: a hold (and a key's
last-used time) is visible to every other admission at once, and the settlement that releases the
hold commits synchronously, which flushes the hold's WAL first.

Everything else under /v1/ (GET /v1/models, unknown URLs, other methods), and every database but
PostgreSQL (SQLite under `make run`), goes through the Django views in usage.gateway.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import psycopg_pool
from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone
from psycopg_pool import AsyncConnectionPool

from accounts import keys
from billing.services import HOLD_PLACE_SQL, AdmissionRefused, hold_refusal

from . import selectors
from .gateway import GatewayError, Reply, _database_unavailable, _in_db_thread, answer, error_response, too_large
from .services import admission_prepare, admission_refusal, request_decode

log = logging.getLogger(__name__)

ENDPOINTS = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}

# The key, its Account's status and the Account's buyer ledger account, in one round trip.
KEY_SQL = """
    SELECT k.id, k.secret_hash, k.revoked_at, a.status, k.account_id, k.spend_limit_nanos, k.spend_limit_period,
           k.period_spent_nanos, k.period_started_at, k.last_used_at,
           (SELECT l.id FROM billing_ledgeraccount l WHERE l.owner_id = k.account_id AND l.kind = 'buyer') AS ledger
      FROM accounts_apikey k JOIN accounts_account a ON a.id = k.account_id
     WHERE k.public_id = %(public_id)s"""

TOUCH_SQL = "UPDATE accounts_apikey SET last_used_at = %s WHERE id = %s"


@dataclass
class KeyRow:
    """The fields of an APIKey that admission reads (what `admission_prepare` needs of a key)."""

    id: int
    account_id: int
    spend_limit_nanos: int | None
    spend_limit_period: str
    period_spent_nanos: int
    period_started_at: datetime | None
    last_used_at: datetime | None
    buyer_ledger_id: int | None


# --- The pool (one per event loop: a pool belongs to the loop that opened it) ---------------------------

_pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}


async def pool() -> AsyncConnectionPool:
    loop = asyncio.get_running_loop()
    found = _pools.get(loop)
    if found is None:
        for other in [other for other in _pools if other.is_closed()]:
            del _pools[other]  # a loop that ended without pools_close(): its connections go with it
        db = connections["default"].settings_dict
        params = {
            "dbname": db["NAME"],
            "user": db["USER"] or None,
            "password": db["PASSWORD"] or None,
            "host": db["HOST"] or None,
            "port": db["PORT"] or None,
            "options": "-c synchronous_commit=off -c timezone=UTC",
            "autocommit": True,
        }
        found = AsyncConnectionPool(
            kwargs={k: v for k, v in params.items() if v is not None},
            min_size=1,
            max_size=settings.GATEWAY_DB_POOL_SIZE,
            # With the database away, a request waits this long for a connection, then gets a 503.
            timeout=settings.GATEWAY_DB_POOL_TIMEOUT_SECONDS,
            open=False,
            name="gateway-admission",
        )
        _pools[loop] = found
    await found.open()  # a no-op once open
    return found


async def pools_close() -> None:
    """Close this event loop's pool (a server shutting down; tests stop many servers per session)."""
    found = _pools.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()


# --- Admission -------------------------------------------------------------------------------------------


def _unauthorized(message: str) -> GatewayError:
    return GatewayError(message, status_code=401, type="authentication_error", code="invalid_api_key")


async def key_authenticate(authorization: str | None) -> KeyRow:
    """The active key of an Authorization header, with accounts.authentication's answers (401/403)."""
    public_id, secret = _presented_key(authorization)
    row = await _fetch_one(KEY_SQL, {"public_id": public_id})
    return _key_row(row, secret)


# The key check, the hold and the key's last use, in ONE round trip, for a key without a spend limit.
# The hold is placed only if the presented secret's hash matches and the key and its Account are in
# good standing; otherwise the key's row comes back without a hold and `_key_row` says why,
# exactly as `key_authenticate` would. (A key with a spend limit is checked in Python first: two trips.)
ADMIT_SQL = f"""
    WITH k AS ({KEY_SQL}
    ), admitted AS (
        UPDATE billing_ledgeraccount SET held_nanos = held_nanos + %(amount)s, in_flight = in_flight + 1
         WHERE id = (SELECT ledger FROM k WHERE secret_hash = %(hash)s AND revoked_at IS NULL AND status = 'active'
                                          AND spend_limit_nanos IS NULL)
           AND balance_nanos > held_nanos AND in_flight < %(limit)s
        RETURNING id
    ), hold AS (
        INSERT INTO billing_hold (ledger_account_id, kind, key, amount_nanos, created_at, expires_at)
        SELECT id, 'request', %(key)s, %(amount)s, %(now)s, %(expires)s FROM admitted
        RETURNING id
    ), touched AS (
        UPDATE accounts_apikey SET last_used_at = %(now)s
         WHERE id = (SELECT id FROM k) AND EXISTS (SELECT 1 FROM hold)
           AND (last_used_at IS NULL OR last_used_at < %(stale)s)
        RETURNING id
    )
    SELECT k.*, (SELECT id FROM hold) FROM k"""  # noqa: S608 -- only this module's constant SQL


@dataclass
class _NoLimit:
    """What `admission_prepare` reads of a key before the key is known: admission in one round trip is
    only for keys without a spend limit (one with a limit is re-checked once its row is read)."""

    id: int = 0
    account_id: int = 0
    spend_limit_nanos: None = None


def _key_row(row, secret: str) -> KeyRow:
    """The key of a KEY_SQL/ADMIT_SQL row, or the 401/403 that `key_authenticate` gives."""
    if row is None or not keys.secret_matches(secret, row[1]):
        raise _unauthorized("Invalid API key.")
    if row[2] is not None:
        raise _unauthorized("This API key has been revoked.")
    if row[3] != "active":
        raise GatewayError(
            "This account is suspended.", status_code=403, type="permission_error", code="account_suspended"
        )
    if row[10] is None:
        raise GatewayError(
            "This account is not a buyer account.", status_code=403, type="permission_error", code="not_buyer"
        )
    return KeyRow(row[0], row[4], row[5], row[6], row[7], row[8], row[9], row[10])


def _presented_key(authorization: str | None) -> tuple[str, str]:
    if not authorization:
        raise _unauthorized("Missing API key: send `Authorization: Bearer infer_sk_...`.")
    scheme, _, raw = authorization.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise _unauthorized("Malformed Authorization header: expected `Bearer <API key>`.")
    parsed = keys.parse(raw.strip())
    if parsed is None:
        raise _unauthorized("Malformed API key.")
    return parsed


async def _fetch_one(sql: str, params, *, timeout: float | None = None):
    """One statement's first row; after the database dropped a pooled connection, run it once more on a
    new one. Safe for every statement here: KEY_SQL reads, and a retried ADMIT_SQL or HOLD_PLACE_SQL
    that had in fact committed fails on the hold's unique key rather than holding twice."""
    try:
        async with (await pool()).connection(timeout=timeout) as conn:
            return await (await conn.execute(sql, params)).fetchone()
    except psycopg.OperationalError as exc:
        if timeout is not None or not await _pool_refreshed(exc):
            raise
    # Briefly, in case the database is still away.
    return await _fetch_one(sql, params, timeout=2)


async def _pool_refreshed(exc: psycopg.OperationalError) -> bool:
    """After the database dropped a pooled connection (a restart, a failover), the pool's other idle
    connections are dead too: replace them all now, rather than failing one request per dead
    connection. False when there is nothing to refresh (the pool itself timed out)."""
    found = _pools.get(asyncio.get_running_loop())
    if found is None or isinstance(exc, psycopg_pool.PoolTimeout):
        return False
    log.warning("gateway: the database dropped a pooled connection (%s); checking the pool", exc)
    await found.check()
    return True


async def admit(*, authorization: str | None, body: bytes, endpoint: str):
    """`usage.services.request_admit` on the event loop: key, validation, routes, hold, last use.

    The request is validated and sized first (CPU only: catalog and routes come from the cache), then
    the key is checked and the hold placed in one statement. A request that is both unauthenticated
    and invalid is answered 401, as the portable path does: the key is checked before a 4xx goes out.
    """
    public_id, secret = _presented_key(authorization)
    now = timezone.now()
    try:
        payload = request_decode(body)
        model_id = payload.get("model") if isinstance(payload, dict) else None
        if settings.GATEWAY_ROUTE_CACHE_SECONDS > 0 and not selectors.routes_fresh(model_id=model_id):
            await _routes_refresh(model_id)
        prepare = dict(key=_NoLimit(), buyer_ledger_id=0, payload=payload, endpoint=endpoint, now=now)
        if selectors.routes_fresh(model_id=model_id):
            admission = admission_prepare(**prepare)  # catalog and routes from the cache: no query
        else:
            admission = await _in_db_thread(admission_prepare, retry_lost_connection=True)(**prepare)  # no cache
    except GatewayError:
        await key_authenticate(authorization)  # a bad key is a 401 before the request's own 4xx
        raise
    expires = now + timedelta(seconds=settings.HOLD_TIMEOUT_SECONDS)
    params = {
        "public_id": public_id,
        "hash": keys.hash_secret(secret),
        "amount": admission.hold_nanos,
        "limit": settings.MAX_IN_FLIGHT_PER_ACCOUNT,
        "key": f"request:{admission.request_id}",
        "now": now,
        "expires": expires,
        "stale": now - timedelta(seconds=60),  # last use is written at most once a minute
    }
    row = await _fetch_one(ADMIT_SQL, params)
    key = _key_row(row, secret)
    hold_id = row[11]
    if key.spend_limit_nanos is not None:
        # The limit decides before any hold: size and check with the real key, then place the hold.
        prepare.update(key=key, buyer_ledger_id=key.buyer_ledger_id)
        admission = admission_prepare(**prepare)
        hold_params = {**params, "account": key.buyer_ledger_id, "amount": admission.hold_nanos}
        hold_params["key"] = f"request:{admission.request_id}"
        hold = await _fetch_one(HOLD_PLACE_SQL, hold_params)
        if hold is not None and (key.last_used_at is None or now - key.last_used_at > timedelta(seconds=60)):
            async with (await pool()).connection() as conn:
                await conn.execute(TOUCH_SQL, (now, key.id))
        hold_id = hold[0] if hold is not None else None
    if hold_id is None:
        # Refused (rare on a healthy account): say why with the portable path's reads.
        await _in_db_thread(_refuse, retry_lost_connection=True)(
            ledger_account_id=key.buyer_ledger_id, account_id=key.account_id
        )
    admission.hold_id = hold_id
    admission.api_key_id = key.id
    admission.account_id = key.account_id
    admission.buyer_ledger_id = key.buyer_ledger_id
    admission.key_has_limit = key.spend_limit_nanos is not None
    return admission


_refreshing: dict[tuple, asyncio.Future] = {}


async def _routes_refresh(model_id) -> None:
    """Reload the catalog and a model's routes in a worker thread, once per loop however many
    requests found them stale at the same moment (the others wait for that one reload)."""
    key = (asyncio.get_running_loop(), model_id if isinstance(model_id, str) else None)
    running = _refreshing.get(key)
    if running is None:

        def reload():
            entry = selectors.catalog_entry(model_id=key[1] or "")
            if entry is not None:
                selectors.routes_for_model(model_id=entry.model_id)

        running = _refreshing[key] = asyncio.ensure_future(_in_db_thread(reload, retry_lost_connection=True)())
        running.add_done_callback(lambda _: _refreshing.pop(key, None))
    await asyncio.shield(running)


def _refuse(*, ledger_account_id: int, account_id: int):
    refusal = hold_refusal(ledger_account_id)
    if isinstance(refusal, AdmissionRefused):
        raise admission_refusal(refusal, account_id=account_id)
    raise refusal


# --- ASGI ------------------------------------------------------------------------------------------------


async def _read_body(receive) -> bytes | None:
    """The request body; None when the client left, or when it is over the limit (then b"" is not enough)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > settings.GATEWAY_MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class _TooLarge(Exception):
    pass


async def _send(send, reply: Reply):
    headers = [(b"content-type", reply.content_type.encode())]
    headers += [(name.lower().encode(), str(value).encode()) for name, value in reply.headers.items()]
    if reply.stream is None:
        headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
        return
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    async for chunk in reply.stream:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _respond(scope, body: bytes, send, endpoint: str, started: float):
    authorization = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
            break
    try:
        admission = await admit(authorization=authorization, body=body, endpoint=endpoint)
    except GatewayError as exc:
        reply = error_response(exc)
    except (psycopg.Error, DatabaseError) as exc:
        # The database is away (restarting, failing over) or dropped the connection: nothing was
        # charged (a hold placed before the failure expires); the client may retry.
        reply = _database_unavailable(exc)
    else:
        reply = await answer(admission, started)
    await _send(send, reply)


def _server_error() -> Reply:
    return error_response(
        GatewayError("The server had an error while processing your request.", status_code=500, type="server_error")
    )


async def _listen_for_disconnect(receive):
    while (await receive())["type"] != "http.disconnect":
        pass


async def serve(scope, receive, send):
    """One POST to a hot endpoint. A client that leaves cancels the work, as Django's handler does,
    so a stream being relayed settles what was delivered (usage.gateway._relay)."""
    started = time.monotonic()
    endpoint = ENDPOINTS[scope["path"]]
    try:
        body = await _read_body(receive)
    except _TooLarge:
        await _send(send, too_large())
        return
    if body is None:
        return
    started_sending = False

    async def tracked_send(message):
        nonlocal started_sending
        started_sending = True
        await send(message)

    work = asyncio.ensure_future(_respond(scope, body, tracked_send, endpoint, started))
    watch = asyncio.ensure_future(_listen_for_disconnect(receive))
    try:
        await asyncio.wait((work, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not work.done():
            work.cancel()
        try:
            await work
        except asyncio.CancelledError:
            pass
        except Exception:
            # A bug, or the database gone: a 500 in OpenAI's shape if nothing was sent yet. (A hold
            # taken before the failure is released by holds_expire.)
            log.exception("gateway request failed")
            if not started_sending:
                await _send(send, _server_error())


def is_lean(scope) -> bool:
    """Whether this request takes the lean path (a hot endpoint, POST, PostgreSQL)."""
    return (
        scope["path"] in ENDPOINTS
        and scope.get("method") == "POST"
        and connections["default"].vendor == "postgresql"
        and settings.GATEWAY_LEAN_PATH
    )
