"""GET /api/notifications, marking read, the event stream, the portal's bell and banner."""

import json
import threading
import time

import httpx
import pytest

from billing.models import Notification
from billing.selectors import buyer_ledger_account
from billing.services import system_ledger_account_id, transaction_post
from conftest import fund

USD = 1_000_000_000


def spend(account, nanos, key):
    buyer = buyer_ledger_account(account=account).id
    transaction_post(
        idempotency_key=key, kind="usage", legs=[(buyer, -nanos), (system_ledger_account_id("platform:revenue"), nanos)]
    )


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}


@pytest.mark.django_db
def test_it_lists_unread_first_and_marks_read(client, alice_account, alice_key):
    older = Notification.objects.create(
        account=alice_account, kind="low_balance", threshold_nanos=5 * USD, balance_nanos=4 * USD
    )
    newer = Notification.objects.create(
        account=alice_account, kind="low_balance", threshold_nanos=USD, balance_nanos=0, desktop=True
    )
    response = client.get("/api/notifications", **auth(alice_key))
    assert response.status_code == 200
    assert [n["id"] for n in response.json()] == [newer.id, older.id]
    assert response.json()[0]["threshold"] == "1" and response.json()[0]["desktop"] is True

    assert client.post(f"/api/notifications/{newer.id}/read", **auth(alice_key)).json() == {"marked": 1}
    response = client.get("/api/notifications", **auth(alice_key))
    assert [n["id"] for n in response.json()] == [older.id, newer.id]  # unread first
    assert [n["id"] for n in client.get("/api/notifications?unread=1", **auth(alice_key)).json()] == [older.id]

    assert client.post("/api/notifications/read", {}, content_type="application/json", **auth(alice_key)).json() == {
        "marked": 1
    }
    assert client.get("/api/notifications?unread=true", **auth(alice_key)).json() == []


@pytest.mark.django_db
def test_another_tenant_gets_a_404_and_sees_nothing(client, alice_account, charlie_key):
    mine = Notification.objects.create(
        account=alice_account, kind="low_balance", threshold_nanos=5 * USD, balance_nanos=4 * USD
    )
    assert client.post(f"/api/notifications/{mine.id}/read", **auth(charlie_key)).status_code == 404
    assert client.get("/api/notifications", **auth(charlie_key)).json() == []
    client.post("/api/notifications/read", {}, content_type="application/json", **auth(charlie_key))
    mine.refresh_from_db()
    assert mine.read_at is None


@pytest.mark.django_db
def test_bad_input_is_refused(client, alice_key):
    response = client.post(
        "/api/notifications/read", {"ids": ["x"]}, content_type="application/json", **auth(alice_key)
    )
    assert response.status_code == 400 and "ids" in response.json()
    assert client.get("/api/notifications").status_code in (401, 403)


@pytest.mark.django_db
def test_the_portal_shows_the_bell_and_a_banner_that_cannot_be_hidden(client, alice, alice_account):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert 'data-testid="balance-banner"' in page and "used up" in page  # $0: blocked
    fund(alice_account, 3 * USD, key="fund")
    page = client.get("/").content.decode()
    assert "below $5.00" in page
    Notification.objects.create(
        account=alice_account, kind="low_balance", threshold_nanos=5 * USD, balance_nanos=3 * USD
    )
    page = client.get("/").content.decode()
    assert 'data-testid="unread-count">1<' in page
    page = client.get("/notifications/").content.decode()
    assert "fell below $5.00" in page
    client.post("/notifications/preferences/", {})
    assert "checked" not in client.get("/notifications/").content.decode().split("low_balance_email")[1][:40]


def test_the_stream_delivers_a_notification_within_a_second_of_the_crossing(asgi_server, alice_account, alice_key):
    fund(alice_account, 6 * USD, key="fund")
    events, connected = [], threading.Event()

    def listen():
        headers = {"Authorization": f"Bearer {alice_key.secret}"}
        with httpx.stream(
            "GET", f"{asgi_server.url}/api/notifications/stream", headers=headers, timeout=10
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            connected.set()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append((time.monotonic(), json.loads(line[6:])))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(5)
    time.sleep(0.3)  # let the stream subscribe before the crossing
    crossed_at = time.monotonic()
    spend(alice_account, 2 * USD, "u1")
    listener.join(5)
    assert events, "no event arrived"
    received_at, payload = events[0]
    assert payload["kind"] == "low_balance" and payload["threshold_nanos"] == 5 * USD
    assert received_at - crossed_at < 1.0


def test_the_stream_refuses_a_bad_key(asgi_server):
    response = httpx.get(f"{asgi_server.url}/api/notifications/stream", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
