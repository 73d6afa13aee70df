"""Bad input gets an OpenAI-style error with the right status, no charge and no hold left behind."""

import json

import httpx
import pytest

from billing.checks import ledger_check
from billing.models import Hold, LedgerAccount
from conftest import fund
from usage import services
from usage.models import UsageRecord

from .conftest import CHEAP_MODEL, MODELS, ServerThread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def post(gateway_server, alice_key, alice_account, node):
    fund(alice_account, 1_000_000_000)

    def send(body, *, raw=None, path="chat/completions"):
        content = raw if raw is not None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {alice_key.secret}", "Content-Type": "application/json"}
        return httpx.post(f"{gateway_server.url}/v1/{path}", content=content, headers=headers, timeout=30)

    return send


def _nothing_charged(account):
    assert LedgerAccount.objects.get(owner=account, kind=LedgerAccount.Kind.BUYER).balance_nanos == 1_000_000_000
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    assert ledger_check().ok


def _assert_error(response, status, code=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code:
        assert error["code"] == code


MSG = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "no-such-model", "messages": MSG}, 404, "model_not_found"),
        ({"messages": MSG}, 400, "missing_model"),
        ({"model": CHEAP_MODEL}, 400, "missing_messages"),
        ({"model": CHEAP_MODEL, "messages": []}, 400, "missing_messages"),
        ({"model": CHEAP_MODEL, "messages": [{"content": "no role"}]}, 400, None),
        ({"model": CHEAP_MODEL, "messages": MSG, "max_tokens": -5}, 400, "invalid_value"),
        ({"model": CHEAP_MODEL, "messages": MSG, "max_tokens": 0}, 400, "invalid_value"),
        ({"model": CHEAP_MODEL, "messages": MSG, "max_tokens": 10**12}, 400, "invalid_value"),
        ({"model": CHEAP_MODEL, "messages": MSG, "max_tokens": "ten"}, 400, "invalid_value"),
        ({"model": CHEAP_MODEL, "messages": MSG, "stream": "yes"}, 400, "invalid_value"),
        ({"model": CHEAP_MODEL, "messages": MSG, "n": 3}, 400, "unsupported_value"),
    ],
)
def test_it_rejects_bad_chat_requests(post, alice_account, body, status, code):
    _assert_error(post(body), status, code)
    _nothing_charged(alice_account)


def test_it_rejects_malformed_json(post, alice_account):
    _assert_error(post(None, raw=b'{"model": '), 400, "invalid_json")
    _assert_error(post(None, raw=b"[1, 2]"), 400, "invalid_json")
    _nothing_charged(alice_account)


def test_it_rejects_a_completion_without_a_prompt(post, alice_account):
    _assert_error(post({"model": CHEAP_MODEL}, path="completions"), 400, "missing_prompt")
    _nothing_charged(alice_account)


def test_it_rejects_bodies_over_the_limit(post, alice_account, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 1000
    _assert_error(post({"model": CHEAP_MODEL, "messages": [{"role": "user", "content": "x" * 2000}]}), 413)
    _nothing_charged(alice_account)


def test_it_answers_unknown_v1_paths_in_openai_shape(post):
    _assert_error(post({}, path="embeddings"), 404, "unknown_url")


async def _weird_node(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"surprise": true}'})


@pytest.mark.parametrize("stream", [False, True])
def test_it_charges_nothing_when_the_node_answers_in_an_unexpected_shape(
    gateway_server, alice_key, alice_account, operator_account, stream
):
    fund(alice_account, 1_000_000_000)
    weird = ServerThread(_weird_node)
    try:
        services.node_create(account=operator_account, name="weird", base_url=weird.url, model_ids=MODELS)
        response = httpx.post(
            f"{gateway_server.url}/v1/chat/completions",
            json={"model": CHEAP_MODEL, "messages": MSG, "stream": stream},
            headers={"Authorization": f"Bearer {alice_key.secret}"},
            timeout=30,
        )
    finally:
        weird.stop()
    _assert_error(response, 502)
    record = UsageRecord.objects.get()
    assert record.status == "error" and record.cost_nanos == 0
    _nothing_charged(alice_account)
