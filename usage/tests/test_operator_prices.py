"""Operator prices per 1K tokens: validation with clear messages, and the gateway charging them at once."""

import pytest

from accounts.services import account_roles_update
from billing.checks import ledger_check
from billing.selectors import ledger_account_balance, operator_ledger_account
from conftest import fund
from usage import services
from usage.models import NodeModel, UsageRecord

from .conftest import CHEAP_MODEL


@pytest.fixture
def oscar_client(client, oscar, operator_account):
    client.force_login(oscar)
    return client


@pytest.fixture
def priced_node(operator_account):
    # Never called in the validation tests: prices are checked before anything reaches a node.
    return services.node_create(
        account=operator_account, name="gpu-1", base_url="http://127.0.0.1:9/v1", model_ids=[CHEAP_MODEL, "qwen3-8b"]
    )


def prices(node_model):
    node_model.refresh_from_db()
    return node_model.input_price_nanos, node_model.output_price_nanos


@pytest.mark.django_db
def test_it_shows_the_default_per_1k_and_the_resulting_price_per_1m(oscar_client, priced_node):
    page = oscar_client.get(f"/nodes/{priced_node.code}/").content.decode()
    # The small tier's default: $0.10 / $0.15 per 1M tokens = $0.0001 / $0.00015 per 1K.
    assert "$0.0001 / $0.00015" in page and "$0.1 / $0.15" in page

    response = oscar_client.post(
        f"/nodes/{priced_node.code}/", {f"{CHEAP_MODEL}:input": "0.0002", f"{CHEAP_MODEL}:output": "$0.000375"}
    )
    assert response.status_code == 302
    row = NodeModel.objects.get(node=priced_node, model__model_id=CHEAP_MODEL)
    assert prices(row) == (200, 375)  # nanos per token
    page = oscar_client.get(f"/nodes/{priced_node.code}/").content.decode()
    assert "Prices saved" in page and "$0.2 / $0.375" in page  # per 1M, beside the default
    assert 'value="0.0002"' in page and 'value="0.000375"' in page
    # Blank is the default again.
    oscar_client.post(f"/nodes/{priced_node.code}/", {f"{CHEAP_MODEL}:input": "", f"{CHEAP_MODEL}:output": ""})
    assert prices(row) == (None, None)


@pytest.mark.parametrize(
    "text, message",
    [
        ("-0.001", "Price per 1K tokens cannot be negative."),
        ("0.0000001", "Price per 1K tokens is finer than INFER can charge exactly (at most 6 decimal places)."),
        ("cheap", "Price per 1K tokens must be a number, got &#x27;cheap&#x27;."),
        ("1e400", "Price per 1K tokens is at most $1,000."),
        ("1000.000001", "Price per 1K tokens is at most $1,000."),
        ("NaN", "Price per 1K tokens must be a finite number"),
    ],
)
@pytest.mark.django_db
def test_it_refuses_bad_prices_with_a_clear_message_and_saves_nothing(oscar_client, priced_node, text, message):
    row = NodeModel.objects.get(node=priced_node, model__model_id=CHEAP_MODEL)
    response = oscar_client.post(
        f"/nodes/{priced_node.code}/",
        {f"{CHEAP_MODEL}:input": "0.0005", f"{CHEAP_MODEL}:output": text, "qwen3-8b:input": "0.001"},
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert f"{CHEAP_MODEL}, output: {message}" in page and "Nothing was saved" in page
    assert prices(row) == (None, None)  # the valid input price of the same form is not saved either
    assert prices(NodeModel.objects.get(node=priced_node, model__model_id="qwen3-8b")) == (None, None)


@pytest.mark.django_db
def test_another_operator_cannot_price_my_node(client, charlie, charlie_account, priced_node):
    account_roles_update(account=charlie_account, is_buyer=True, is_operator=True)
    client.force_login(charlie)
    response = client.post(f"/nodes/{priced_node.code}/", {f"{CHEAP_MODEL}:input": "0.5"})
    assert response.status_code == 404
    assert prices(NodeModel.objects.get(node=priced_node, model__model_id=CHEAP_MODEL)) == (None, None)


@pytest.mark.django_db(transaction=True)
def test_the_gateway_charges_the_new_price_on_the_next_request(
    client, oscar, alice_client, alice_account, operator_account, demo_node
):
    node = services.node_create(account=operator_account, name="gpu-1", base_url=demo_node.url, model_ids=[CHEAP_MODEL])
    fund(alice_account, 1_000_000_000)

    def earned():
        return ledger_account_balance(operator_ledger_account(account=operator_account))

    def ask():
        response = alice_client.chat.completions.create(
            model=CHEAP_MODEL, messages=[{"role": "user", "content": "Say something"}], max_tokens=5
        )
        return response.usage, UsageRecord.objects.order_by("-id").first()

    usage, record = ask()
    assert (record.input_price_nanos, record.output_price_nanos) == (100, 150)  # the tier default

    client.force_login(oscar)
    response = client.post(f"/nodes/{node.code}/", {f"{CHEAP_MODEL}:input": "0.0025", f"{CHEAP_MODEL}:output": "0.004"})
    assert response.status_code == 302
    before = earned()

    usage, record = ask()
    assert (record.input_price_nanos, record.output_price_nanos) == (2_500, 4_000)
    cost = usage.prompt_tokens * 2_500 + usage.completion_tokens * 4_000
    assert record.cost_nanos == cost and record.operator_share_nanos == cost * 80 // 100
    # The operator's ledger moved by exactly its share at the new price.
    assert earned() - before == cost * 80 // 100
    report = ledger_check()
    assert report.ok, report.problems
