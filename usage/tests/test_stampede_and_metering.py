"""Concurrency bound (a stampede on $0.01), metering disagreements, and unverified models."""

import threading
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from billing.checks import ledger_check
from billing.models import Hold, LedgerAccount
from conftest import fund
from usage import services
from usage.models import UsageRecord
from usage.selectors import metering_disagreements

from .conftest import CHEAP_MODEL, MODELS

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "user", "content": "Describe a river in a few words."}]


def _balance(account):
    return LedgerAccount.objects.get(owner=account, kind=LedgerAccount.Kind.BUYER).balance_nanos


@pytest.mark.parametrize("stream", [False, True])
def test_a_stampede_never_overdraws_more_than_one_response(
    gateway_server, alice_key, alice_account, operator_account, demo_node, stream
):
    fund(alice_account, 10_000_000)  # $0.01
    # An expensive node ($100 per 1M output tokens) so a handful of requests use up the balance.
    expensive = services.node_create(account=operator_account, name="pricey", base_url=demo_node.url)
    services.node_model_set(node=expensive, model_id=CHEAP_MODEL, input_price_nanos=1_000, output_price_nanos=100_000)
    statuses = []
    headers = {"Authorization": f"Bearer {alice_key.secret}"}
    barrier = threading.Barrier(100)

    def call(i):
        body = {"model": CHEAP_MODEL, "messages": [{"role": "user", "content": f"Question {i}"}], "max_tokens": 40}
        body["stream"] = stream
        barrier.wait()
        with httpx.Client(timeout=60) as client:
            statuses.append(
                client.post(f"{gateway_server.url}/v1/chat/completions", json=body, headers=headers).status_code
            )

    threads = [threading.Thread(target=call, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(statuses) == 100 and set(statuses) <= {200, 402}
    assert 402 in statuses and 200 in statuses
    records = list(UsageRecord.objects.all())
    assert len(records) == statuses.count(200)
    largest = max(r.cost_nanos for r in records)
    assert _balance(alice_account) == 10_000_000 - sum(r.cost_nanos for r in records)
    assert _balance(alice_account) >= -largest
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    assert LedgerAccount.objects.get(owner=alice_account).held_nanos == 0
    assert ledger_check().ok


def test_it_bills_its_own_count_when_a_node_inflates_usage(
    alice_client, alice_account, operator_account, demo_node_factory
):
    fund(alice_account, 1_000_000_000)
    inflating = demo_node_factory(inflate_usage=1.5)
    services.node_create(account=operator_account, name="inflating", base_url=inflating.url, model_ids=MODELS)

    response = alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=20)
    record = UsageRecord.objects.get()
    assert record.verified and record.metering_disagreement
    assert record.output_tokens == 20 == response.usage.completion_tokens
    assert record.node_output_tokens == 30
    assert record.node_input_tokens == int(record.input_tokens * 1.5)
    assert record.cost_nanos == record.input_tokens * 100 + 20 * 150
    disputed = metering_disagreements(operator_account=operator_account, since=timezone.now() - timedelta(hours=1))
    assert list(disputed) == [record]
    assert not metering_disagreements(operator_account=alice_account, since=timezone.now() - timedelta(hours=1))
    assert ledger_check().ok


def test_it_bills_the_nodes_count_unverified_for_a_model_without_a_tokenizer(alice_client, alice_account, node):
    fund(alice_account, 1_000_000_000)
    response = alice_client.chat.completions.create(model="mistral-7b-instruct", messages=MESSAGES, max_tokens=9)
    record = UsageRecord.objects.get()
    assert not record.verified and not record.metering_disagreement
    assert record.input_tokens == record.node_input_tokens == response.usage.prompt_tokens
    assert record.output_tokens == record.node_output_tokens == 9
    assert response.usage.model_extra["verified"] is False
    assert ledger_check().ok
