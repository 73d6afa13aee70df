"""Failover before the first token, a node dying mid-stream, a client hanging up, and completions."""

import json
import threading
import time

import httpx
import pytest

from billing.checks import ledger_check
from billing.models import Hold, LedgerAccount
from conftest import fund
from usage import gateway, services
from usage.models import Node, UsageRecord

from .conftest import CHEAP_MODEL, MODELS, free_port_url

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "user", "content": "Tell me about rivers."}]


def _balance(account):
    return LedgerAccount.objects.get(owner=account, kind=LedgerAccount.Kind.BUYER).balance_nanos


def test_it_fails_over_when_the_first_node_refuses_connections(alice_client, alice_account, operator_account, node):
    fund(alice_account, 1_000_000_000)
    # Cheaper, so routing tries it first; nothing listens there.
    dead = services.node_create(account=operator_account, name="dead", base_url=free_port_url())
    services.node_model_set(node=dead, model_id=CHEAP_MODEL, input_price_nanos=1, output_price_nanos=1)

    response = alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=5)
    assert response.usage.completion_tokens == 5
    record = UsageRecord.objects.get()
    assert record.node == node and record.status == "success"
    # This process learned that the cheap node fails, so the next request goes elsewhere first.
    assert gateway._health[dead.id].error_rate > 0 and not gateway._health[dead.id].last_ok
    assert ledger_check().ok


def test_it_fails_over_on_streams_too(alice_client, alice_account, operator_account, node):
    fund(alice_account, 1_000_000_000)
    dead = services.node_create(account=operator_account, name="dead", base_url=free_port_url())
    services.node_model_set(node=dead, model_id=CHEAP_MODEL, input_price_nanos=1, output_price_nanos=1)
    chunks = list(alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=5, stream=True))
    assert chunks[-1].usage.completion_tokens == 5
    assert UsageRecord.objects.get().node == node


def test_it_charges_nothing_when_every_node_fails_before_output(alice_client, alice_account, operator_account):
    import openai

    fund(alice_account, 1_000_000_000)
    dead = services.node_create(account=operator_account, name="dead", base_url=free_port_url(), model_ids=MODELS)
    with pytest.raises(openai.APIStatusError) as caught:
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES)
    assert caught.value.status_code == 502
    record = UsageRecord.objects.get()
    assert record.status == "error" and record.cost_nanos == 0 and record.node is None
    assert record.error_code == "node_unreachable"
    assert _balance(alice_account) == 1_000_000_000
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    assert Node.objects.get(id=dead.id).last_error_at is None  # no settled request carried its health
    assert ledger_check().ok


def test_it_bills_only_delivered_tokens_when_the_node_dies_mid_stream(
    alice_client, alice_account, operator_account, demo_node_factory
):
    fund(alice_account, 1_000_000_000)
    dying = demo_node_factory(die_after_tokens=4)
    services.node_create(account=operator_account, name="dying", base_url=dying.url, model_ids=MODELS)

    stream = alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=30, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    record = UsageRecord.objects.get()
    assert len(text.split()) == 4
    assert record.status == "node_failed" and record.error_code == "node_died_mid_stream"
    assert record.output_tokens == 4 == chunks[-1].usage.completion_tokens
    assert record.cost_nanos == record.input_tokens * 100 + 4 * 150
    assert _balance(alice_account) == 1_000_000_000 - record.cost_nanos
    assert ledger_check().ok


def test_it_bills_a_client_that_hangs_up_for_what_was_generated(
    gateway_server, alice_key, alice_account, operator_account, demo_node_factory
):
    fund(alice_account, 1_000_000_000)
    slow = demo_node_factory(tokens_per_second=50)
    services.node_create(account=operator_account, name="slow", base_url=slow.url, model_ids=MODELS)
    body = {"model": CHEAP_MODEL, "messages": MESSAGES, "max_tokens": 200, "stream": True}
    headers = {"Authorization": f"Bearer {alice_key.secret}"}
    received = 0
    with httpx.stream("POST", f"{gateway_server.url}/v1/chat/completions", json=body, headers=headers) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                choices = json.loads(line[6:])["choices"]
                received += bool(choices and choices[0]["delta"].get("content"))
            if received >= 5:
                break  # hang up
    deadline = time.monotonic() + 10
    while not UsageRecord.objects.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    record = UsageRecord.objects.get()
    assert record.status == "client_closed"
    assert 5 <= record.output_tokens < 200
    assert _balance(alice_account) == 1_000_000_000 - record.cost_nanos
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    assert ledger_check().ok


def test_it_serves_completions_streamed_and_not(alice_client, alice_account, node):
    fund(alice_account, 1_000_000_000)
    response = alice_client.completions.create(model=CHEAP_MODEL, prompt="Once upon a time", max_tokens=7)
    assert response.usage.completion_tokens == 7 and response.choices[0].text
    chunks = list(
        alice_client.completions.create(model=CHEAP_MODEL, prompt="Once upon a time", max_tokens=6, stream=True)
    )
    assert chunks[-1].usage.completion_tokens == 6
    records = list(UsageRecord.objects.order_by("created_at"))
    assert [r.endpoint for r in records] == ["completions", "completions"]
    assert [r.output_tokens for r in records] == [7, 6]
    assert records[0].input_tokens == response.usage.prompt_tokens
    assert sum(r.cost_nanos for r in records) == 1_000_000_000 - _balance(alice_account)
    assert ledger_check().ok


def test_it_keeps_one_connection_to_a_node_across_streamed_and_plain_requests(
    alice_client, alice_account, node, demo_node
):
    # A stream closed before its last chunk drops its connection: every request would open a new one.
    fund(alice_account, 1_000_000_000)
    for n in range(4):
        chunks = list(
            alice_client.chat.completions.create(
                model=CHEAP_MODEL, messages=[{"role": "user", "content": f"Question {n}"}], max_tokens=5, stream=True
            )
        )
        assert chunks[-1].usage.completion_tokens == 5
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=5)
    assert demo_node.server.config.app.requests == 8
    assert len(demo_node.server.config.app.connections) == 1


def test_it_never_lets_the_node_return_more_than_max_tokens(
    alice_client, alice_account, operator_account, demo_node_factory
):
    fund(alice_account, 1_000_000_000)
    # A node that ignores max_tokens and always writes 40 tokens.
    verbose = demo_node_factory(default_max_tokens=40)
    verbose.server.config.app.config.default_max_tokens = 40
    services.node_create(account=operator_account, name="verbose", base_url=verbose.url, model_ids=MODELS)
    original = verbose.server.config.app._answer

    async def ignoring_max_tokens(send, request, *, chat):
        request = dict(request)
        request.pop("max_tokens", None)
        return await original(send, request, chat=chat)

    verbose.server.config.app._answer = ignoring_max_tokens
    response = alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=10)
    assert response.usage.completion_tokens == 10 and response.choices[0].finish_reason == "length"
    assert len(response.choices[0].message.content.split()) == 10
    chunks = list(
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=10, stream=True)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 10 and chunks[-1].usage.completion_tokens == 10
    assert ledger_check().ok


def test_it_settles_concurrent_requests_in_shared_commits(alice_client, alice_account, node):
    from usage.settlement import settler

    fund(alice_account, 1_000_000_000)
    before = settler().items
    threads = [
        threading.Thread(
            target=lambda: alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=3)
        )
        for _ in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert settler().items - before == 20 == UsageRecord.objects.count()
    assert ledger_check().ok


def test_it_releases_the_hold_at_once_when_a_client_leaves_before_the_answer(
    gateway_server, alice_key, alice_account, operator_account, demo_node_factory
):
    fund(alice_account, 1_000_000_000)
    slow = demo_node_factory(latency_ms=3000)
    services.node_create(account=operator_account, name="slow", base_url=slow.url, model_ids=MODELS)
    body = {"model": CHEAP_MODEL, "messages": MESSAGES, "max_tokens": 5}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{gateway_server.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {alice_key.secret}"},
            timeout=0.5,
        )
    deadline = time.monotonic() + 10
    while not UsageRecord.objects.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    record = UsageRecord.objects.get()
    assert record.status == "client_closed" and record.cost_nanos == 0
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    assert _balance(alice_account) == 1_000_000_000
    assert ledger_check().ok
