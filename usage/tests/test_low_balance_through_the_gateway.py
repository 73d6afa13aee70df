"""Low-balance warnings driven by real gateway requests: emails over SMTP, notifications, the stream."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from billing.checks import ledger_check
from billing.models import Notification
from billing.selectors import buyer_ledger_account
from conftest import fund
from usage import services

from .conftest import CHEAP_MODEL

pytestmark = pytest.mark.django_db(transaction=True)

USD = 1_000_000_000
MESSAGES = [{"role": "user", "content": "Say something about rivers."}]


@pytest.fixture
def pricey_node(node):
    """$0.01 per input token: a request of this test's prompt costs a bit under half a dollar."""
    services.node_model_set(
        node=node, model_id=CHEAP_MODEL, input_price_nanos=10_000_000, output_price_nanos=10_000_000
    )
    return node


def fired(account):
    return list(Notification.objects.filter(account=account).order_by("id").values_list("threshold_nanos", flat=True))


def balance(account):
    return buyer_ledger_account(account=account).balance_nanos


def test_spending_down_to_zero_warns_at_5_and_1_and_then_402(alice_client, alice_account, pricey_node, smtp_server):
    fund(alice_account, 6 * USD, key="fund")
    refused = None
    for _ in range(40):
        try:
            alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=3)
        except openai.APIStatusError as exc:
            refused = exc
            break
    assert refused is not None and refused.status_code == 402 and refused.body["code"] == "insufficient_balance"
    assert balance(alice_account) <= 0
    assert fired(alice_account) == [5 * USD, USD, 0]
    assert [m["subject"] for m in smtp_server.messages] == [
        "[INFER] Balance below $5.00 for Alice's team",
        "[INFER] Balance below $1.00 for Alice's team",
    ]
    assert Notification.objects.get(account=alice_account, threshold_nanos=0).desktop

    # A deposit re-arms the warnings: spending below $5 again warns again, once.
    fund(alice_account, 10 * USD, key="deposit")
    while balance(alice_account) >= 5 * USD:
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=3)
    assert fired(alice_account) == [5 * USD, USD, 0, 5 * USD]
    assert len(smtp_server.messages) == 3
    assert ledger_check().ok


def test_50_concurrent_requests_crossing_together_warn_once(alice_client, alice_account, node, smtp_server):
    services.node_model_set(node=node, model_id=CHEAP_MODEL, input_price_nanos=200_000, output_price_nanos=200_000)
    fund(alice_account, 5 * USD + 150_000_000, key="fund")  # $5.15; 50 requests of ~$0.003–0.004 each

    def call(_):
        return alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=3)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(call, range(50)))
    assert len(responses) == 50
    assert balance(alice_account) < 5 * USD
    assert fired(alice_account) == [5 * USD]
    assert len(smtp_server.messages) == 1
    assert ledger_check().ok


def test_the_stream_tells_the_desktop_app_within_a_second(
    gateway_server, alice_client, alice_key, alice_account, pricey_node
):
    fund(alice_account, 5 * USD + 100_000_000, key="fund")  # $5.10: the next request crosses $5
    events, connected = [], threading.Event()

    def listen():
        headers = {"Authorization": f"Bearer {alice_key.secret}"}
        url = f"{gateway_server.url}/api/notifications/stream"
        with httpx.stream("GET", url, headers=headers, timeout=10) as response:
            connected.set()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append((time.monotonic(), json.loads(line[6:])))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(5)
    time.sleep(0.3)
    alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=3)
    answered_at = time.monotonic()
    listener.join(5)
    assert events, "no notification arrived on the stream"
    received_at, payload = events[0]
    assert payload["threshold_nanos"] == 5 * USD
    assert received_at - answered_at < 1.0
