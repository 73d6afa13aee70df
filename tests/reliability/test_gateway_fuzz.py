"""Hypothesis on the gateway's request parsing and its /v1 views: any body gets a clean 4xx, never a 500."""

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.services import account_roles_update
from billing.models import Hold
from usage.services import GatewayError, node_create, request_decode, request_parse

MODELS = ["llama-3.1-8b-instruct", "qwen3-8b", "no-such-model", ""]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
message = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["user", "system", "assistant", "tool", "", "nobody"]) | json_values,
        "content": st.text(max_size=50) | json_values,
        "name": json_values,
    },
)
chat_body = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(MODELS) | json_values,
        "messages": st.lists(message, max_size=3) | json_values,
        "prompt": st.text(max_size=50) | st.lists(st.text(max_size=10), max_size=3) | json_values,
        "max_tokens": st.integers(min_value=-(2**70), max_value=2**70) | json_values,
        "max_completion_tokens": st.integers() | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": json_values,
        "temperature": st.floats() | json_values,
        "n": st.integers() | json_values,
    },
)


# Close to valid: a served model and messages, with the other fields fuzzed (these reach admission).
near_valid_chat = st.fixed_dictionaries(
    {
        "model": st.sampled_from(MODELS[:2]),
        "messages": st.lists(
            st.fixed_dictionaries({"role": st.sampled_from(["user", "system"]), "content": st.text(max_size=40)}),
            min_size=1,
            max_size=3,
        ),
    },
    optional={
        "max_tokens": st.integers(min_value=-(2**70), max_value=2**70) | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": json_values,
        "temperature": st.floats() | json_values,
    },
)


def _encode(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


bodies = st.one_of(
    chat_body.map(_encode),
    near_valid_chat.map(_encode),
    json_values.map(_encode),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
)


@pytest.fixture
def nodeless_route(charlie_account):
    """A node serving the fuzzed models, at an address where nothing listens: admission gets as far as
    the balance (Alice has none), and no request may ever reach it."""
    operator = account_roles_update(account=charlie_account, is_buyer=True, is_operator=True)
    return node_create(account=operator, name="never called", base_url="http://127.0.0.1:9", model_ids=MODELS[:2])


FUZZ = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.mark.django_db
@FUZZ
@example(body=b'{"model": "llama-3.1-8b-instruct", "messages": [{"role": ["user"], "content": "hi"}]}', endpoint="chat")
@given(body=bodies, endpoint=st.sampled_from(["chat", "completions"]))
def test_parsing_any_body_either_succeeds_or_raises_a_gateway_error(body, endpoint):
    try:
        request_parse(payload=request_decode(body), endpoint=endpoint)
    except GatewayError as exc:
        assert 400 <= exc.status_code < 500


@pytest.mark.django_db(transaction=True)  # the gateway reads through its own database threads
@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(body=bodies, path=st.sampled_from(["/v1/chat/completions", "/v1/completions"]))
def test_the_gateway_answers_any_body_with_an_openai_error_and_holds_nothing(
    async_client, alice_key, nodeless_route, body, path
):
    """Alice has no balance: whatever she sends ends before any node is called, as a 4xx in OpenAI's shape."""
    from tests.servers import run_async

    async def send():
        return await async_client.post(
            path, data=body, content_type="application/json", headers={"Authorization": f"Bearer {alice_key.secret}"}
        )

    response = run_async(send())
    assert 400 <= response.status_code < 500, response.content[:300]
    error = json.loads(response.content)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert not Hold.objects.filter(released_at__isnull=True).exists()
