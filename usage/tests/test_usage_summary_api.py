"""GET /api/usage/summary: usage per day and model from the daily rollup, equal to the raw records."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models import Sum

from billing.checks import ledger_check
from usage import services
from usage.models import UsageRecord

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}


@pytest.mark.django_db
def test_it_sums_per_day_and_model_equal_to_the_raw_records(
    client, alice_key, alice_account, charlie_account, parked_node, usage_record
):
    for i in range(9):
        usage_record(
            alice_account,
            node=parked_node,
            created_at=T0 - timedelta(hours=9 * i),
            model="qwen3-8b" if i % 3 == 0 else "llama-3.1-8b-instruct",
            input_tokens=100 + i,
            output_tokens=7 * i,
            status="error" if i == 4 else "success",
        )
    usage_record(charlie_account, node=parked_node, created_at=T0)
    services.usage_rollup(now=T0 + timedelta(hours=1))

    response = client.get("/api/usage/summary", {"start": "2026-11-01", "end": "2026-11-20"}, **auth(alice_key))

    assert response.status_code == 200
    body = response.json()
    assert (body["start"], body["end"]) == ("2026-11-01", "2026-11-20")
    raw = UsageRecord.objects.filter(account=alice_account).aggregate(
        requests=Sum(1), cost=Sum("cost_nanos"), inp=Sum("input_tokens"), out=Sum("output_tokens")
    )
    assert body["totals"]["requests"] == 9
    assert body["totals"]["errors"] == 1
    assert body["totals"]["cost_nanos"] == raw["cost"]
    assert body["totals"]["input_tokens"] == raw["inp"]
    assert body["totals"]["output_tokens"] == raw["out"]
    for row in body["days"]:
        day = date.fromisoformat(row["day"])
        same = UsageRecord.objects.filter(
            account=alice_account, model__model_id=row["model"], created_at__date=day
        ).aggregate(cost=Sum("cost_nanos"), out=Sum("output_tokens"))
        assert (row["cost_nanos"], row["output_tokens"]) == (same["cost"], same["out"])
    assert [(d["day"], d["model"]) for d in body["days"]] == sorted((d["day"], d["model"]) for d in body["days"])


@pytest.mark.django_db
def test_it_defaults_to_the_last_30_days_and_limits_the_range(client, alice_key):
    body = client.get("/api/usage/summary", **auth(alice_key)).json()
    assert (date.fromisoformat(body["end"]) - date.fromisoformat(body["start"])).days == 29
    assert body["days"] == [] and body["totals"]["cost"] == "0.000000000"

    assert (
        client.get("/api/usage/summary", {"start": "2026-11-20", "end": "2026-11-01"}, **auth(alice_key)).status_code
        == 400
    )
    assert (
        client.get("/api/usage/summary", {"start": "2020-01-01", "end": "2026-11-01"}, **auth(alice_key)).status_code
        == 400
    )
    assert client.get("/api/usage/summary", {"start": "soon"}, **auth(alice_key)).status_code == 400


@pytest.mark.django_db
def test_it_never_counts_another_accounts_usage(client, alice_key, charlie_account, usage_record):
    usage_record(charlie_account, created_at=T0)
    services.usage_rollup(now=T0 + timedelta(hours=1))
    body = client.get("/api/usage/summary", {"start": "2026-11-20", "end": "2026-11-20"}, **auth(alice_key)).json()
    assert body["days"] == []


@pytest.mark.django_db
def test_it_answers_another_accounts_record_with_404(client, alice_key, charlie_account, usage_record):
    theirs = usage_record(charlie_account, created_at=T0)
    assert client.get(f"/api/usage/{theirs.request_id}", **auth(alice_key)).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_it_matches_requests_settled_through_the_gateway(client, alice_key, funded, node, alice_client, settings):
    settings.USAGE_ROLLUP_LAG_SECONDS = 0
    for words in ("one two", "three four five"):
        alice_client.chat.completions.create(
            model="llama-3.1-8b-instruct", messages=[{"role": "user", "content": words}], max_tokens=8
        )
    alice_client.chat.completions.create(model="qwen3-8b", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    services.usage_rollup(now=datetime.now(UTC) + timedelta(seconds=1))

    body = client.get("/api/usage/summary", **auth(alice_key)).json()

    raw = UsageRecord.objects.filter(account=funded).aggregate(cost=Sum("cost_nanos"), out=Sum("output_tokens"))
    assert body["totals"]["requests"] == 3
    assert body["totals"]["cost_nanos"] == raw["cost"] > 0
    assert body["totals"]["output_tokens"] == raw["out"]
    assert {row["model"] for row in body["days"]} == {"llama-3.1-8b-instruct", "qwen3-8b"}
    assert ledger_check().ok
