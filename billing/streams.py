"""Notification delivery to desktop apps: a Redis wake-up channel and a server-sent-events stream.

The database is the source of truth: the stream sends rows with an id above the last one it sent.
Redis only wakes a stream early; without Redis the stream polls the database every second.
"""

import asyncio
import json
import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from rest_framework.exceptions import APIException

from .models import Notification

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15
POLL_SECONDS = 1.0
MAX_STREAM_SECONDS = 3600  # clients reconnect with Last-Event-ID; keeps workers from pinning forever

_publisher = None


def _channel(account_id: int) -> str:
    return f"infer:notifications:{account_id}"


def notification_publish(*, account_id: int, notification_id: int) -> None:
    global _publisher
    if not settings.REDIS_URL:
        return
    if _publisher is None:
        import redis

        _publisher = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    _publisher.publish(_channel(account_id), str(notification_id))


def notification_payload(notification: Notification) -> dict:
    from .money import nanos_to_usd

    return {
        "id": notification.id,
        "kind": notification.kind,
        "threshold": str(nanos_to_usd(notification.threshold_nanos)),
        "threshold_nanos": notification.threshold_nanos,
        "balance": str(nanos_to_usd(notification.balance_nanos)),
        "balance_nanos": notification.balance_nanos,
        "desktop": notification.desktop,
        "message": notification_message(notification),
        "created_at": notification.created_at.isoformat(),
        "read_at": notification.read_at.isoformat() if notification.read_at else None,
    }


def notification_message(notification: Notification) -> str:
    from .money import format_usd

    if notification.kind == Notification.Kind.BALANCE_DEPLETED:
        return "Your INFER balance is used up: API requests are refused (402) until you add funds."
    return (
        f"Your INFER balance fell below {format_usd(notification.threshold_nanos)} "
        f"(now {format_usd(notification.balance_nanos)}). Add funds to keep your requests running."
    )


def _notifications_after(account_id: int, after_id: int | None) -> list[dict]:
    qs = Notification.objects.filter(account_id=account_id)
    qs = qs.filter(id__gt=after_id) if after_id is not None else qs.filter(read_at__isnull=True)
    return [notification_payload(n) for n in qs.order_by("id")[:100]]


def _latest_id(account_id: int) -> int:
    return Notification.objects.filter(account_id=account_id).order_by("-id").values_list("id", flat=True).first() or 0


def _event(payload: dict) -> str:
    return f"id: {payload['id']}\nevent: notification\ndata: {json.dumps(payload)}\n\n"


async def _stream(account_id: int, after_id: int | None):
    pubsub = client = None
    if settings.REDIS_URL:
        try:
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5)
            pubsub = client.pubsub()
            await pubsub.subscribe(_channel(account_id))
        except Exception:
            log.warning("notification stream without Redis; polling the database", exc_info=True)
            pubsub = None
    started = last_beat = time.monotonic()
    try:
        yield "retry: 2000\n\n"
        last_id = after_id
        pending = await sync_to_async(_notifications_after)(account_id, last_id)
        if last_id is None:
            last_id = await sync_to_async(_latest_id)(account_id)
        while True:
            for payload in pending:
                last_id = max(last_id or 0, payload["id"])
                yield _event(payload)
            if time.monotonic() - started > MAX_STREAM_SECONDS:
                return
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                yield ": heartbeat\n\n"
            if pubsub is not None:
                try:
                    await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
                except Exception:
                    log.warning("Redis went away; the stream polls the database", exc_info=True)
                    pubsub = None
            else:
                await asyncio.sleep(POLL_SECONDS)
            pending = await sync_to_async(_notifications_after)(account_id, last_id)
    finally:
        # The stream's own Redis client too (its connection pool), not only the subscription.
        for closable in (pubsub, client):
            if closable is not None:
                try:
                    await closable.aclose()
                except Exception:
                    log.debug("closing the stream's Redis client failed", exc_info=True)


def _account_for_request(request):
    """Key or session authentication, as /api/ does; returns the Account or raises."""
    from accounts.authentication import api_key_from_header

    header = request.META.get("HTTP_AUTHORIZATION")
    if header:
        return api_key_from_header(header).account
    if request.user.is_authenticated and request.account:
        return request.account
    return None


async def notifications_stream(request):
    """GET /api/notifications/stream: server-sent events of new notifications, with a heartbeat."""
    try:
        account = await sync_to_async(_account_for_request)(request)
    except APIException as exc:
        return HttpResponse(
            json.dumps({"detail": str(exc.detail)}), status=exc.status_code, content_type="application/json"
        )
    if account is None:
        return HttpResponse(
            json.dumps({"detail": "Authentication credentials were not provided."}),
            status=401,
            content_type="application/json",
        )
    raw_after = request.headers.get("Last-Event-ID") or request.GET.get("after")
    try:
        after_id = int(raw_after) if raw_after else None
    except ValueError:
        return HttpResponse(
            json.dumps({"detail": "after must be a notification id"}), status=400, content_type="application/json"
        )
    response = StreamingHttpResponse(_stream(account.id, after_id), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
