"""The earnings dashboard and CSV statement: numbers equal the usage records' operator shares, per tenant."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Sum

from accounts.services import account_roles_update
from billing.money import format_cost, format_usd
from usage import services
from usage.models import UsageRecord

from .conftest import CHEAP_MODEL

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def oscar_client(client, oscar, operator_account, now):
    client.force_login(oscar)
    return client


@pytest.fixture
def history(now, operator_account, alice_account, charlie_account, usage_record):
    """Usage on two nodes and two models over 40 days; part already in the daily rollup, part not yet."""
    gpu1 = services.node_create(account=operator_account, name="gpu-1", base_url="http://127.0.0.1:9/v1")
    gpu2 = services.node_create(account=operator_account, name="gpu-2", base_url="http://127.0.0.1:9/v1")
    for days_ago, node, model, tokens in [
        (40, gpu1, CHEAP_MODEL, 1_000),  # outside 30 days
        (20, gpu1, CHEAP_MODEL, 2_000),
        (10, gpu2, "qwen3-8b", 3_000),
        (5, gpu1, "qwen3-8b", 4_000),
        (0, gpu2, CHEAP_MODEL, 5_000),
    ]:
        usage_record(
            alice_account,
            node=node,
            model=model,
            input_tokens=tokens,
            output_tokens=tokens // 2,
            created_at=now - timedelta(days=days_ago),
        )
    assert services.usage_rollup(now=now + timedelta(minutes=5)) == 5
    # Newer than the rollup's watermark: the dashboard must count these too.
    usage_record(charlie_account, node=gpu1, model=CHEAP_MODEL, input_tokens=7_000, output_tokens=1, created_at=now)
    usage_record(alice_account, node=gpu2, model="qwen3-8b", input_tokens=333, output_tokens=7, status="client_closed")
    return gpu1, gpu2


def shares(**filters):
    return UsageRecord.objects.filter(**filters).aggregate(total=Sum("operator_share_nanos"))["total"] or 0


def usd(nanos):
    return format_cost(nanos)


def test_the_dashboard_totals_equal_the_records_operator_shares(oscar_client, history, now):
    gpu1, gpu2 = history
    page = oscar_client.get("/earnings/").content.decode()
    midnight = now.replace(hour=0)

    today = shares(created_at__gte=midnight)
    week = shares(created_at__gte=midnight - timedelta(days=6))
    month = shares(created_at__gte=midnight - timedelta(days=29))
    assert today and today < week < month < shares()
    for testid, nanos in (("earned-today", today), ("earned-7d", week), ("earned-30d", month)):
        assert f'data-testid="{testid}"><h2>' in page
        assert format_usd(nanos) in page.split(f'data-testid="{testid}"')[1].split("</div>")[0]
    # By node and by model over 30 days, exact to the nano.
    since = midnight - timedelta(days=29)
    for node in (gpu1, gpu2):
        assert usd(shares(node=node, created_at__gte=since)) in page.split('data-testid="by-node"')[1]
    for model in (CHEAP_MODEL, "qwen3-8b"):
        assert usd(shares(model__model_id=model, created_at__gte=since)) in page.split('data-testid="by-model"')[1]
    assert '<svg class="chart"' in page and page.count('<rect class="bar"') == 30


def test_the_statement_lists_each_day_node_and_model_of_the_month(oscar_client, history, now):
    response = oscar_client.get("/earnings/statement.csv?month=2026-11")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="infer-earnings-2026-11.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["date"], r["node"], r["model"], r["requests"]) for r in rows] == [
        ("2026-11-10", "gpu-2", "qwen3-8b", "1"),
        ("2026-11-15", "gpu-1", "qwen3-8b", "1"),
        ("2026-11-20", "gpu-1", CHEAP_MODEL, "1"),  # charlie's request, not rolled up yet
        ("2026-11-20", "gpu-2", CHEAP_MODEL, "1"),
        ("2026-11-20", "gpu-2", "qwen3-8b", "1"),
    ]
    november = UsageRecord.objects.filter(created_at__gte=datetime(2026, 11, 1, tzinfo=UTC))
    assert sum(Decimal(r["earnings_usd"]) for r in rows) * 10**9 == sum(r.operator_share_nanos for r in november)
    assert sum(Decimal(r["buyer_cost_usd"]) for r in rows) * 10**9 == sum(r.cost_nanos for r in november)
    first = rows[0]
    record = november.get(node__name="gpu-2", model__model_id="qwen3-8b", status="success")
    assert (first["input_tokens"], first["output_tokens"]) == (str(record.input_tokens), str(record.output_tokens))

    october = list(csv.reader(io.StringIO(oscar_client.get("/earnings/statement.csv?month=2026-10").content.decode())))
    assert october == [
        ["date", "node", "model", "requests", "input_tokens", "output_tokens", "buyer_cost_usd", "earnings_usd"],
        ["2026-10-11", "gpu-1", CHEAP_MODEL, "1", "1000", "500", "0.000175", "0.00014"],
        ["2026-10-31", "gpu-1", CHEAP_MODEL, "1", "2000", "1000", "0.00035", "0.00028"],
    ]


def test_a_bad_month_is_refused_with_a_message(oscar_client, history):
    response = oscar_client.get("/earnings/statement.csv?month=November", follow=True)
    assert "Choose a month as YYYY-MM" in response.content.decode()


def test_another_operator_sees_none_of_my_earnings(client, charlie, charlie_account, history):
    account_roles_update(account=charlie_account, is_buyer=True, is_operator=True)
    client.force_login(charlie)

    page = client.get("/earnings/").content.decode()
    assert "gpu-1" not in page and "gpu-2" not in page and "No requests in the last 30 days" in page
    rows = list(csv.reader(io.StringIO(client.get("/earnings/statement.csv?month=2026-11").content.decode())))
    assert len(rows) == 1  # the header only
