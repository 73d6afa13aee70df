"""The lean ASGI path of /v1/ on PostgreSQL: taken for the hot endpoints only, same answers as Django's."""

import httpx
import pytest

from accounts.models import Account
from billing.checks import ledger_check
from billing.models import Hold, LedgerAccount
from conftest import fund
from usage import lean, selectors
from usage.models import UsageRecord

from .conftest import CHEAP_MODEL

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "user", "content": "Name three rivers."}]


def _scope(path, method="POST"):
    return {"type": "http", "path": path, "method": method, "headers": []}


def test_it_takes_the_lean_path_only_for_posts_to_the_two_hot_endpoints(settings):
    assert lean.is_lean(_scope("/v1/chat/completions"))
    assert lean.is_lean(_scope("/v1/completions"))
    assert not lean.is_lean(_scope("/v1/chat/completions", method="GET"))
    assert not lean.is_lean(_scope("/v1/models", method="GET"))
    assert not lean.is_lean(_scope("/v1/embeddings"))
    settings.GATEWAY_LEAN_PATH = False
    assert not lean.is_lean(_scope("/v1/chat/completions"))


def test_it_answers_from_the_route_cache_without_a_query_and_bills_exactly(settings, alice_client, alice_account, node):
    settings.GATEWAY_ROUTE_CACHE_SECONDS = 60  # the production shape: admission reads routes on the loop
    fund(alice_account, 1_000_000_000)
    for _ in range(3):
        response = alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=10)
    assert selectors.routes_fresh(model_id=CHEAP_MODEL)

    records = list(UsageRecord.objects.order_by("id"))
    assert len(records) == 3
    last = records[-1]
    assert response.usage.prompt_tokens == last.input_tokens and response.usage.completion_tokens == last.output_tokens
    spent = sum(r.cost_nanos for r in records)
    assert spent == sum(r.input_tokens * 100 + r.output_tokens * 150 for r in records) > 0
    buyer = LedgerAccount.objects.get(owner=alice_account, kind=LedgerAccount.Kind.BUYER)
    assert buyer.balance_nanos == 1_000_000_000 - spent and buyer.held_nanos == 0 and buyer.in_flight == 0
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    alice_key_row = last.api_key
    assert alice_key_row.last_used_at is not None  # the lean path records use like api_key_touch
    assert ledger_check().ok


def test_it_gives_the_same_answers_as_the_django_path_when_switched_off(
    settings, gateway_server, alice_key, alice_account, node
):
    fund(alice_account, 1_000_000_000)
    url = f"{gateway_server.url}/v1/chat/completions"
    good = {"model": CHEAP_MODEL, "messages": MESSAGES, "max_tokens": 5}
    answers = []
    for lean_on in (True, False):
        settings.GATEWAY_LEAN_PATH = lean_on
        auth = {"Authorization": f"Bearer {alice_key.secret}"}
        answers.append(
            [
                (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else "ok")
                for r in (
                    httpx.post(url, json=good, headers=auth, timeout=30),
                    httpx.post(url, json=good, timeout=30),
                    httpx.post(url, json=good, headers={"Authorization": "Bearer infer_sk_nope"}, timeout=30),
                    httpx.post(url, content=b"{not json", headers=auth, timeout=30),
                    httpx.post(url, json={**good, "model": "no-such-model"}, headers=auth, timeout=30),
                    httpx.post(url, json={**good, "max_tokens": -1}, headers=auth, timeout=30),
                    httpx.post(url, content=b"x" * (settings.GATEWAY_MAX_BODY_BYTES + 1), headers=auth, timeout=30),
                )
            ]
        )
    assert (
        answers[0]
        == answers[1]
        == [
            (200, "ok"),
            (401, "invalid_api_key"),
            (401, "invalid_api_key"),
            (400, "invalid_json"),
            (404, "model_not_found"),
            (400, "invalid_value"),
            (413, "body_too_large"),
        ]
    )
    assert UsageRecord.objects.count() == 2
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    assert ledger_check().ok


def test_it_refuses_an_unfunded_account_with_402_and_a_suspended_one_with_403(alice_client, alice_account, node):
    def post():
        return httpx.post(
            f"{alice_client.base_url}chat/completions",
            json={"model": CHEAP_MODEL, "messages": MESSAGES},
            headers={"Authorization": f"Bearer {alice_client.api_key}"},
            timeout=30,
        )

    response = post()
    assert response.status_code == 402 and response.json()["error"]["code"] == "insufficient_balance"
    Account.objects.filter(id=alice_account.id).update(status=Account.Status.SUSPENDED)
    response = post()
    assert response.status_code == 403 and response.json()["error"]["code"] == "account_suspended"
    assert not UsageRecord.objects.exists() and not Hold.objects.exists()
    assert ledger_check().ok


def test_one_round_trip_admission_checks_the_key_as_strictly_as_the_portable_path(
    gateway_server, alice, alice_key, alice_account, node
):
    """Key check, hold and last use are one statement: every way a key can be wrong still holds nothing."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import APIKey
    from accounts.services import api_key_create, api_key_revoke

    fund(alice_account, 1_000_000_000)
    url = f"{gateway_server.url}/v1/chat/completions"
    good = {"model": CHEAP_MODEL, "messages": MESSAGES, "max_tokens": 5}

    def post(secret, body=good):
        response = httpx.post(url, json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
        return response.status_code, response.json()["error"]["code"] if response.status_code >= 400 else "ok"

    wrong_secret = alice_key.secret[:-4] + ("aaaa" if not alice_key.secret.endswith("aaaa") else "bbbb")
    _, revoked_secret = api_key_create(account=alice_account, name="soon revoked", created_by=alice)
    api_key_revoke(api_key=APIKey.objects.get(name="soon revoked"))
    assert post(wrong_secret) == (401, "invalid_api_key")
    assert post(revoked_secret) == (401, "invalid_api_key")
    assert post(wrong_secret, {**good, "max_tokens": -1}) == (401, "invalid_api_key")  # the key first
    assert post(alice_key.secret, {**good, "max_tokens": -1}) == (400, "invalid_value")
    assert not Hold.objects.exists()

    # A key with a spend limit: admitted while under it, refused with 402 once it is reached.
    _, limited = api_key_create(
        account=alice_account, name="limited", created_by=alice, spend_limit_nanos=1, spend_limit_period="daily"
    )
    assert post(limited) == (200, "ok")
    assert post(limited) == (402, "key_spend_limit")

    # Last use is written at most once a minute, by the same statement that places the hold.
    recent = timezone.now() - timedelta(seconds=30)
    APIKey.objects.filter(id=alice_key.id).update(last_used_at=recent)
    assert post(alice_key.secret) == (200, "ok")
    assert APIKey.objects.get(id=alice_key.id).last_used_at == recent
    APIKey.objects.filter(id=alice_key.id).update(last_used_at=recent - timedelta(minutes=1))
    assert post(alice_key.secret) == (200, "ok")
    assert APIKey.objects.get(id=alice_key.id).last_used_at > recent

    assert UsageRecord.objects.count() == 3
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    assert ledger_check().ok


def test_the_application_closes_its_node_sessions_and_pools_at_lifespan_shutdown(alice_client, alice_account, node):
    """uvicorn's lifespan protocol: startup completes, and shutdown closes this loop's node session."""
    import asyncio

    from infer.asgi import application
    from tests.servers import run_async
    from usage import nodes

    async def work():
        await nodes.post(f"{node.base_url}/models", body=b"", headers={})  # opens this loop's session
        assert asyncio.get_running_loop() in nodes._sessions
        inbox = asyncio.Queue()
        for message in ("lifespan.startup", "lifespan.shutdown"):
            inbox.put_nowait({"type": message})
        sent = []

        async def send(message):
            sent.append(message["type"])

        await application({"type": "lifespan"}, inbox.get, send)
        assert asyncio.get_running_loop() not in nodes._sessions
        return sent

    assert run_async(work()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
