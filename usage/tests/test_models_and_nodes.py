"""GET /v1/models with prices; suspension of an operator's nodes; the demo node registration."""

import httpx
import openai
import pytest
from django.core.management import call_command

from accounts.models import Account
from conftest import fund
from usage import services
from usage.models import Node, NodeModel

from .conftest import CHEAP_MODEL

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_lists_models_with_an_active_node_and_their_price_range(alice_client, operator_account, node, demo_node):
    second = services.node_create(account=operator_account, name="gpu-2", base_url=demo_node.url)
    services.node_model_set(node=second, model_id=CHEAP_MODEL, input_price_nanos=250, output_price_nanos=400)

    models = {m.id: m for m in alice_client.models.list()}
    assert set(models) == {"llama-3.1-8b-instruct", "qwen3-8b", "mistral-7b-instruct", "gpt-oss-20b"}
    llama = models[CHEAP_MODEL].model_extra
    assert llama["tier"] == "small" and llama["nodes"] == 2
    assert llama["pricing"]["input"] == {"min": "0.1", "max": "0.25"}
    assert llama["pricing"]["output"] == {"min": "0.15", "max": "0.4"}


def test_it_needs_a_key_to_list_models(gateway_server, node):
    assert httpx.get(f"{gateway_server.url}/v1/models").status_code == 401


def test_it_stops_routing_to_a_suspended_operator_and_resumes_after(
    alice_client, alice_account, operator_account, node
):
    fund(alice_account, 1_000_000_000)
    assert services.operator_nodes_suspend(account=operator_account, reason="metering violation") == 1
    assert Node.objects.get(id=node.id).status == "suspended"
    assert list(alice_client.models.list()) == []
    with pytest.raises(openai.APIStatusError) as caught:
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503 and caught.value.body["code"] == "no_capacity"

    assert services.operator_nodes_restore(account=operator_account) == 1
    response = alice_client.chat.completions.create(
        model=CHEAP_MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    assert response.usage.completion_tokens == 2


def test_it_routes_nothing_to_a_suspended_operator_account(alice_client, operator_account, node):
    Account.objects.filter(id=operator_account.id).update(status=Account.Status.SUSPENDED)
    assert list(alice_client.models.list()) == []


def test_demo_node_ensure_is_idempotent(operator_account):
    first = services.demo_node_ensure(account=operator_account, base_url="http://127.0.0.1:9999")
    again = services.demo_node_ensure(account=operator_account, base_url="http://127.0.0.1:9999/")
    assert first == again and first.base_url == "http://127.0.0.1:9999/v1"
    assert NodeModel.objects.filter(node=first).count() == 7


def test_seed_demo_registers_the_demo_node(settings):
    settings.DEMO_NODE_URL = "http://127.0.0.1:9998"
    call_command("seed_demo", "--json")
    call_command("seed_demo", "--json")
    node = Node.objects.get()
    assert node.base_url == "http://127.0.0.1:9998/v1" and node.account.is_operator
