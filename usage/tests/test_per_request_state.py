"""Nothing the gateway keeps per request outlives the request: streamed or not, failed over, or hung up on.

A module-level set or dict that keeps one entry per request grows a server's memory without bound
(`gateway._settled` did, by one request id per streamed answer, until a soak showed the RSS climbing).
"""

import json
import time

import httpx
import pytest

from conftest import fund
from usage import gateway, lean, nodes, services
from usage.models import UsageRecord

from .conftest import CHEAP_MODEL, MODELS, free_port_url

pytestmark = pytest.mark.django_db(transaction=True)


def _ask(url, secret, n, *, stream, endpoint="chat"):
    headers = {"Authorization": f"Bearer {secret}"}
    if endpoint == "chat":
        body = {"model": CHEAP_MODEL, "messages": [{"role": "user", "content": f"q{n}"}], "max_tokens": 8}
    else:
        body = {"model": CHEAP_MODEL, "prompt": f"q{n}", "max_tokens": 8}
    body["stream"] = stream
    response = httpx.post(
        f"{url}/v1/{'chat/completions' if endpoint == 'chat' else 'completions'}",
        json=body,
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("lean_path", [True, False], ids=["lean", "portable"])
def test_no_per_request_state_outlives_its_requests(
    settings, lean_path, gateway_server, alice_key, alice_account, operator_account, demo_node_factory
):
    settings.GATEWAY_LEAN_PATH = lean_path
    fund(alice_account, 10_000_000_000)
    node = demo_node_factory()
    slow = demo_node_factory(tokens_per_second=50)
    services.node_create(account=operator_account, name="gpu", base_url=node.url, model_ids=MODELS)
    # Cheaper, so routing tries it first; nothing listens there: every request fails over once.
    services.node_create(account=operator_account, name="dead", base_url=free_port_url(), model_ids=[CHEAP_MODEL])
    url = gateway_server.url

    n = 0
    for stream in (False, True):
        for endpoint in ("chat", "completions"):
            for _ in range(10):
                n += 1
                _ask(url, alice_key.secret, n, stream=stream, endpoint=endpoint)
    # A client that hangs up mid-stream, on a slow node of its own.
    services.node_create(account=operator_account, name="slow", base_url=slow.url, model_ids=["qwen3-8b"])
    body = {"model": "qwen3-8b", "messages": [{"role": "user", "content": "long"}], "max_tokens": 200, "stream": True}
    with httpx.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {alice_key.secret}"}
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"]:
                break  # hang up after the first token

    deadline = time.monotonic() + 10
    while UsageRecord.objects.count() < n + 1:
        assert time.monotonic() < deadline, "every request settles"
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while gateway._settled:  # the hung-up stream's relay may still be unwinding
        assert time.monotonic() < deadline, f"request ids kept after their requests: {len(gateway._settled)}"
        time.sleep(0.05)
    assert gateway._settled == set()
    assert lean._refreshing == {}
    assert len(gateway._health) <= 3  # one entry per node, not per request
    assert len(nodes._sessions) <= 2  # one session per live event loop (this server's; maybe the suite's)
