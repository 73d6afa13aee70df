"""The daily rollup: incremental, exact, never counting twice, and the retention that relies on it."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models import Sum

from usage import selectors, services
from usage.models import UsageDaily, UsageRecord, UsageRollupState

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _raw_totals(**filters):
    return UsageRecord.objects.filter(**filters).aggregate(
        cost=Sum("cost_nanos"), inp=Sum("input_tokens"), out=Sum("output_tokens"), op=Sum("operator_share_nanos")
    )


def test_it_sums_records_per_day_account_node_and_model(alice_account, parked_node, usage_record):
    usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(days=1, hours=1))
    usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(days=1, hours=2), input_tokens=7)
    usage_record(
        alice_account,
        node=parked_node,
        created_at=NOW - timedelta(hours=1),
        status="error",
        input_tokens=0,
        output_tokens=0,
    )
    usage_record(alice_account, node=parked_node, model="qwen3-8b", created_at=NOW - timedelta(hours=1))

    assert services.usage_rollup(now=NOW) == 4

    rows = selectors.buyer_spend_by_day(account=alice_account, start=date(2026, 11, 1), end=date(2026, 11, 30))
    assert [(r["day"], r["model"], r["requests"], r["errors"]) for r in rows] == [
        (date(2026, 11, 19), "llama-3.1-8b-instruct", 2, 0),
        (date(2026, 11, 20), "llama-3.1-8b-instruct", 1, 1),
        (date(2026, 11, 20), "qwen3-8b", 1, 0),
    ]
    raw = _raw_totals(account=alice_account)
    assert sum(r["cost_nanos"] for r in rows) == raw["cost"]
    assert sum(r["input_tokens"] for r in rows) == raw["inp"]
    assert sum(r["output_tokens"] for r in rows) == raw["out"]


def test_it_never_counts_a_record_twice_when_run_again(alice_account, parked_node, usage_record):
    for hours in (3, 2, 1):
        usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(hours=hours))
    services.usage_rollup(now=NOW)
    assert services.usage_rollup(now=NOW) == 0

    usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(minutes=30))
    assert services.usage_rollup(now=NOW) == 1

    daily = UsageDaily.objects.get(account=alice_account)
    assert daily.requests == 4
    assert daily.cost_nanos == _raw_totals()["cost"]
    assert UsageRollupState.objects.get().last_record_id == UsageRecord.objects.latest("id").id


def test_it_waits_for_the_lag_before_summing_recent_records(alice_account, parked_node, usage_record, settings):
    settings.USAGE_ROLLUP_LAG_SECONDS = 60
    usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(minutes=5))
    usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(seconds=10))
    assert services.usage_rollup(now=NOW) == 1

    # A record still inside the lag holds back the ones after it, even older-looking ones: the
    # watermark is an id, and it must never pass a record it has not summed.
    usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(minutes=9))
    assert services.usage_rollup(now=NOW) == 0
    assert services.usage_rollup(now=NOW + timedelta(minutes=1)) == 2
    assert UsageDaily.objects.get().requests == 3


def test_it_rolls_up_in_batches_exactly(alice_account, charlie_account, parked_node, usage_record):
    for i in range(7):
        usage_record(
            alice_account if i % 2 else charlie_account,
            node=parked_node,
            created_at=NOW - timedelta(hours=i * 5 + 1),
            output_tokens=i,
        )

    assert services.usage_rollup(now=NOW, batch_size=2) == 7

    assert UsageDaily.objects.aggregate(n=Sum("requests"))["n"] == 7
    assert UsageDaily.objects.aggregate(c=Sum("cost_nanos"))["c"] == _raw_totals()["cost"]
    for account in (alice_account, charlie_account):
        rolled = UsageDaily.objects.filter(account=account).aggregate(c=Sum("cost_nanos"))["c"]
        assert rolled == _raw_totals(account=account)["cost"]


def test_it_keeps_requests_that_reached_no_node_in_one_row(alice_account, usage_record):
    usage_record(alice_account, created_at=NOW - timedelta(hours=2), status="error", input_tokens=0, output_tokens=0)
    services.usage_rollup(now=NOW)
    usage_record(alice_account, created_at=NOW - timedelta(hours=1), status="error", input_tokens=0, output_tokens=0)
    services.usage_rollup(now=NOW)

    daily = UsageDaily.objects.get(account=alice_account)
    assert (daily.node_id, daily.operator_account_id, daily.requests, daily.errors) == (None, None, 2, 2)


def test_it_reports_operator_earnings_by_day_node_and_model(
    alice_account, charlie_account, operator_account, parked_node, usage_record
):
    usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(hours=2))
    usage_record(charlie_account, node=parked_node, created_at=NOW - timedelta(hours=1))
    usage_record(charlie_account, node=parked_node, model="qwen3-8b", created_at=NOW - timedelta(hours=1))
    services.usage_rollup(now=NOW)

    rows = selectors.operator_earnings_by_day(operator_account=operator_account, start=NOW.date(), end=NOW.date())
    assert [(r["model"], r["node_name"], r["requests"]) for r in rows] == [
        ("llama-3.1-8b-instruct", "gpu-parked", 2),
        ("qwen3-8b", "gpu-parked", 1),
    ]
    assert sum(r["earnings_nanos"] for r in rows) == _raw_totals()["op"]

    only_llama = selectors.operator_earnings_by_day(
        operator_account=operator_account,
        start=NOW.date(),
        end=NOW.date(),
        node=parked_node,
        model=UsageRecord.objects.filter(model__model_id="qwen3-8b").first().model,
    )
    assert [r["requests"] for r in only_llama] == [1]
    # A buyer is nobody's operator: it sees no earnings.
    assert selectors.operator_earnings_by_day(operator_account=alice_account, start=NOW.date(), end=NOW.date()) == []


@pytest.mark.parametrize("retention_days", [30])
def test_it_deletes_only_old_records_already_rolled_up(
    alice_account, parked_node, usage_record, settings, retention_days
):
    settings.USAGE_RETENTION_DAYS = retention_days
    old = usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(days=40))
    services.usage_rollup(now=NOW)
    late = usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(days=41))  # not rolled up yet
    recent = usage_record(alice_account, node=parked_node, created_at=NOW - timedelta(days=2))

    assert services.usage_records_purge(now=NOW, batch_size=1) == 1

    assert set(UsageRecord.objects.values_list("id", flat=True)) == {late.id, recent.id}
    assert not UsageRecord.objects.filter(id=old.id).exists()
    # The rollup keeps the deleted record's day.
    assert UsageDaily.objects.get(day=(NOW - timedelta(days=40)).date()).requests == 1


def test_it_keeps_records_forever_when_retention_is_zero(alice_account, usage_record, settings):
    settings.USAGE_RETENTION_DAYS = 0
    usage_record(alice_account, created_at=NOW - timedelta(days=4000))
    services.usage_rollup(now=NOW)
    assert services.usage_records_purge(now=NOW) == 0
    assert UsageRecord.objects.count() == 1


def test_its_celery_tasks_run_the_rollup_and_the_retention(alice_account, usage_record, settings):
    from usage import tasks

    settings.USAGE_RETENTION_DAYS = 1
    usage_record(alice_account, created_at=datetime.now(UTC) - timedelta(days=3))
    assert tasks.usage_rollup_task.delay().get() == 1
    assert tasks.usage_records_purge_task.delay().get() == 1
    assert UsageDaily.objects.get().requests == 1
    assert "usage-rollup" in settings.CELERY_BEAT_SCHEDULE
