"""POST /v1/chat/completions with the official openai client: usage, exact money, 402, 401."""

import uuid

import httpx
import openai
import pytest

from accounts.services import api_key_revoke
from billing.checks import ledger_check
from billing.models import Entry, Hold, LedgerAccount, Transaction
from billing.money import nanos_to_usd
from billing.selectors import ledger_account_balance, operator_ledger_account
from billing.services import ledger_rollup, system_ledger_account_id
from conftest import fund
from usage.models import UsageRecord
from usage.selectors import usage_records

from .conftest import CHEAP_MODEL

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name three rivers."}]


def _buyer_balance(account):
    return LedgerAccount.objects.get(owner=account, kind=LedgerAccount.Kind.BUYER).balance_nanos


def test_it_answers_and_bills_exactly_what_the_client_reads(alice_client, alice_account, node):
    fund(alice_account, 1_000_000_000)
    response = alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=20)

    assert response.choices[0].message.content
    record = UsageRecord.objects.get()
    assert response.usage.prompt_tokens == record.input_tokens > 0
    assert response.usage.completion_tokens == record.output_tokens == 20
    assert record.verified and record.status == "success" and not record.metering_disagreement
    assert record.node_input_tokens == record.input_tokens  # the demo node counts by the same rule
    # small tier: 100 nanos per input token, 150 per output token
    cost = record.input_tokens * 100 + record.output_tokens * 150
    assert record.cost_nanos == cost == response.usage.model_extra["cost_nanos"]
    assert response.usage.model_extra["cost"] == str(nanos_to_usd(cost))
    assert record.operator_share_nanos == cost * 80 // 100
    assert record.platform_share_nanos == cost - cost * 80 // 100
    assert record.node == node and record.api_key_id is not None and record.latency_ms >= 0

    assert _buyer_balance(alice_account) == 1_000_000_000 - cost
    ledger_rollup()
    operator = operator_ledger_account(account=node.account)
    assert ledger_account_balance(operator) == record.operator_share_nanos
    platform = LedgerAccount.objects.get(id=system_ledger_account_id("platform:revenue"))
    assert ledger_account_balance(platform) == record.platform_share_nanos
    txn = Transaction.objects.get(idempotency_key=f"usage:{record.request_id}")
    assert sorted(Entry.objects.filter(transaction=txn).values_list("amount_nanos", flat=True)) == sorted(
        [-cost, record.operator_share_nanos, record.platform_share_nanos]
    )
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    assert ledger_check().ok


def test_it_returns_cost_as_an_exact_usd_string(alice_client, alice_account, node):
    fund(alice_account, 1_000_000_000)
    response = alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=3)
    record = UsageRecord.objects.get()
    from decimal import Decimal

    assert Decimal(response.usage.model_extra["cost"]) * 1_000_000_000 == record.cost_nanos


def test_it_streams_and_puts_usage_with_cost_in_the_last_chunk(alice_client, alice_account, node):
    fund(alice_account, 1_000_000_000)
    chunks = list(
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=12, stream=True)
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    record = UsageRecord.objects.get()
    assert usage is not None and chunks[-1].choices == []
    assert usage.prompt_tokens == record.input_tokens
    assert usage.completion_tokens == record.output_tokens == 12
    assert usage.model_extra["cost_nanos"] == record.cost_nanos == record.input_tokens * 100 + 12 * 150
    assert record.stream and record.ttft_ms is not None
    assert record.output_tokens == len(text.split())
    assert _buyer_balance(alice_account) == 1_000_000_000 - record.cost_nanos
    assert ledger_check().ok


def test_it_refuses_a_buyer_at_zero_balance_with_402(alice_client, alice_account, node):
    with pytest.raises(openai.APIStatusError) as caught:
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES)
    assert caught.value.status_code == 402
    assert caught.value.body["code"] == "insufficient_balance"
    assert not UsageRecord.objects.exists() and not Hold.objects.exists()


def test_it_refuses_a_key_over_its_spend_limit_with_402(client_for, alice, alice_account, node):
    from accounts.services import api_key_create

    fund(alice_account, 1_000_000_000)
    key, secret = api_key_create(
        account=alice_account, name="limited", created_by=alice, spend_limit_nanos=1, spend_limit_period="daily"
    )
    client = client_for(secret)
    client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=2)  # spends past the limit
    key.refresh_from_db()
    assert key.period_spent_nanos == UsageRecord.objects.get().cost_nanos
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=2)
    assert caught.value.status_code == 402 and caught.value.body["code"] == "key_spend_limit"


def test_it_refuses_too_many_requests_in_flight_with_402(alice_client, alice_account, node, settings):
    fund(alice_account, 1_000_000_000)
    settings.MAX_IN_FLIGHT_PER_ACCOUNT = 0
    with pytest.raises(openai.APIStatusError) as caught:
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES)
    assert caught.value.status_code == 402 and caught.value.body["code"] == "in_flight_limit"


def test_it_rejects_a_revoked_key_with_401(alice_client, alice_key, alice_account, node):
    fund(alice_account, 1_000_000_000)
    api_key_revoke(api_key=alice_key)
    with pytest.raises(openai.AuthenticationError) as caught:
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES)
    assert caught.value.status_code == 401


def test_it_rejects_a_malformed_key_with_401(client_for, node):
    with pytest.raises(openai.AuthenticationError):
        client_for("sk-not-ours").chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES)


def test_it_rejects_another_tenants_key_id_with_a_wrong_secret_with_401(client_for, alice_key, charlie_key, node):
    forged = f"infer_sk_{charlie_key.public_id}_{alice_key.secret.rsplit('_', 1)[1]}"
    with pytest.raises(openai.AuthenticationError):
        client_for(forged).chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES)


def test_it_rejects_a_missing_key_with_401(gateway_server, node):
    response = httpx.post(f"{gateway_server.url}/v1/chat/completions", json={"model": CHEAP_MODEL})
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_it_keeps_each_tenants_usage_to_itself(alice_client, alice_account, charlie_account, node, charlie_key):
    fund(alice_account, 1_000_000_000)
    alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=2)
    assert usage_records(account=alice_account).count() == 1
    assert usage_records(account=charlie_account).count() == 0


def test_it_charges_each_request_once_under_its_request_id(alice_client, alice_account, node):
    fund(alice_account, 1_000_000_000)
    for _ in range(3):
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES, max_tokens=2)
    ids = set(UsageRecord.objects.values_list("request_id", flat=True))
    assert len(ids) == 3 and all(isinstance(i, uuid.UUID) for i in ids)
    assert Transaction.objects.filter(kind="usage").count() == 3
    assert ledger_check().ok


def test_it_refuses_an_account_blocked_by_a_card_dispute_with_402(alice_client, alice, alice_account, node):
    from billing.models import CardDispute, CardPayment

    fund(alice_account, -5_000_000_000)  # a disputed payment was withdrawn after it was spent
    payment = CardPayment.objects.create(account=alice_account, created_by=alice, amount_nanos=5_000_000_000)
    CardDispute.objects.create(
        dispute_id="dp_1",
        card_payment=payment,
        account=alice_account,
        status="open",
        stripe_status="needs_response",
        amount_nanos=5_000_000_000,
        debited_nanos=5_000_000_000,
    )
    with pytest.raises(openai.APIStatusError) as caught:
        alice_client.chat.completions.create(model=CHEAP_MODEL, messages=MESSAGES)
    assert caught.value.status_code == 402 and caught.value.body["code"] == "balance_disputed"
