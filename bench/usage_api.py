"""Usage API benchmark: p50/p95 of GET /api/usage (first, filtered and deep pages) and /api/usage/summary.

Loads `--records` usage records (default 10M; a tenth of them, 1M by default, in one big account,
the rest spread over `--accounts` others), 90 days of traffic with ids rising with time as in
production, using COPY with progress; then builds the daily rollup with the real task's code and
times requests through the whole Django stack (middleware, API-key authentication, DRF, filters,
pagination, serialization) with Django's test client, which skips only the network.

    .venv/bin/python bench/usage_api.py [--records 10000000] [--requests 200] [--json out.json]
    .venv/bin/python bench/usage_api.py --records 200000 --requests 50      # a quick proof

It uses its own database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/infer_bench_usage),
created and migrated on first use; its usage tables are emptied on every load (`--reuse` keeps them).
Targets: the first and a filtered page p95 ≤ 50 ms, the summary p95 ≤ 100 ms.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infer.settings")
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/infer_bench_usage"
)
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import Account, APIKey, User  # noqa: E402
from accounts.services import account_create, api_key_create  # noqa: E402
from bench.database import ensure_database  # noqa: E402
from billing.models import CatalogModel  # noqa: E402
from billing.money import request_cost, revenue_split  # noqa: E402
from usage import services  # noqa: E402

DAYS = 90
COLUMNS = (
    "request_id, account_id, api_key_id, model_id, node_id, endpoint, stream, input_tokens, output_tokens, "
    "node_input_tokens, node_output_tokens, verified, metering_disagreement, input_price_nanos, "
    "output_price_nanos, cost_nanos, operator_share_nanos, platform_share_nanos, latency_ms, ttft_ms, "
    "status, error_code, created_at"
)


def fixtures(accounts: int):
    """The big buyer (with its API key), `accounts` other buyers with a key each, two operator nodes."""
    owner, _ = User.objects.get_or_create(email="bench@example.com")
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE usage_usagedaily, usage_usagerollupstate, usage_usagerecord, usage_nodemodel, usage_node, "
            "accounts_apikey CASCADE"
        )
    big = Account.objects.filter(name="bench big buyer").first() or account_create(name="bench big buyer", owner=owner)
    others = list(Account.objects.filter(name__startswith="bench buyer ").order_by("id"))
    for i in range(len(others), accounts):
        others.append(account_create(name=f"bench buyer {i}", owner=owner))
    others = others[:accounts]
    operator = Account.objects.filter(name="bench operator").first() or account_create(
        name="bench operator", owner=owner, is_buyer=False, is_operator=True
    )
    models = list(CatalogModel.objects.filter(is_active=True).order_by("id")[:6])
    nodes = [
        services.node_create(
            account=operator,
            name=f"gpu-{i}",
            base_url=f"http://10.0.0.{i}:8000/v1",
            model_ids=[m.model_id for m in models],
        )
        for i in (1, 2)
    ]
    big_key, secret = api_key_create(account=big, name="bench")
    other_keys = [api_key_create(account=a, name="bench")[0].id for a in others]
    return big, big_key, secret, [a.id for a in others], other_keys, models, nodes


def load(records: int, big, big_key, other_ids, other_keys, models, nodes):
    """COPY `records` rows: every 10th to the big buyer, ids rising with created_at over DAYS days."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / records
    started = time.monotonic()
    prices = [(100, 150), (200, 600), (50, 50)]
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: COPY ... FROM STDIN
        with raw.copy(f"COPY usage_usagerecord ({COLUMNS}) FROM STDIN") as copy:
            for i in range(records):
                if i % 10 == 0:
                    account_id, key_id = big.id, big_key.id
                else:
                    j = rng.randrange(len(other_ids))
                    account_id, key_id = other_ids[j], other_keys[j]
                model = models[rng.randrange(len(models))]
                node = nodes[i % 2]
                failed = i % 50 == 7
                inp, out = (0, 0) if failed else (rng.randrange(20, 4000), rng.randrange(1, 800))
                in_price, out_price = prices[i % 3]
                cost = request_cost(
                    input_tokens=inp, output_tokens=out, input_price_nanos=in_price, output_price_nanos=out_price
                )
                op, plat = revenue_split(cost)
                copy.write_row(
                    (
                        uuid.UUID(int=rng.getrandbits(128), version=4),
                        account_id,
                        key_id,
                        model.id,
                        node.id,
                        "chat",
                        i % 3 == 0,
                        inp,
                        out,
                        inp,
                        out,
                        True,
                        False,
                        in_price,
                        out_price,
                        cost,
                        op,
                        plat,
                        rng.randrange(80, 3000),
                        rng.randrange(20, 400) if i % 3 == 0 else None,
                        "error" if failed else "success",
                        "node_error" if failed else "",
                        start + step * i,
                    )
                )
                if (i + 1) % 250_000 == 0 or i + 1 == records:
                    rate = (i + 1) / (time.monotonic() - started)
                    print(f"  copied {i + 1:>11,} / {records:,} records ({rate:,.0f}/s)", flush=True)
        cursor.execute("ANALYZE usage_usagerecord")


def timed(client, url, headers, n) -> dict:
    client.get(url, **headers)  # warm up (connections, caches)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        response = client.get(url, **headers)
        samples.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
    samples.sort()
    return {
        "url": url,
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2),
        "max_ms": round(samples[-1], 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--reuse", action="store_true", help="keep the records of the previous load")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    ensure_database()
    if args.reuse and APIKey.objects.filter(account__name="bench big buyer").exists():
        print("reusing the loaded records; a fresh key for the big buyer", flush=True)
        big = Account.objects.get(name="bench big buyer")
        big_key, secret = api_key_create(account=big, name="bench rerun")
        models = list(CatalogModel.objects.filter(is_active=True).order_by("id")[:6])
    else:
        print(f"loading {args.records:,} usage records with COPY...", flush=True)
        big, big_key, secret, other_ids, other_keys, models, nodes = fixtures(args.accounts)
        t = time.monotonic()
        load(args.records, big, big_key, other_ids, other_keys, models, nodes)
        print(f"loaded in {time.monotonic() - t:.1f} s; rolling up...", flush=True)
        t = time.monotonic()
        settings.USAGE_ROLLUP_LAG_SECONDS = 0
        summed = services.usage_rollup(batch_size=500_000)
        print(f"rolled up {summed:,} records in {time.monotonic() - t:.1f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE usage_usagedaily")

    big_records = big.usage_records.count()
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    now = datetime.now(UTC)
    # The cursor of a page 20 pages deep: keyset pagination makes it as cheap as the first.
    url = "/api/usage?limit=50"
    for _ in range(20):
        url = client.get(url, **headers).json()["next"].replace("http://testserver", "")
    # A model the big buyer used, and one it never used in the window (the worst case for a filter).
    used_ids = set(big.usage_records.values_list("model_id", flat=True).distinct())
    used = next(m for m in models if m.id in used_ids)
    unused = next((m for m in models if m.id not in used_ids), models[-1])
    window = (
        f"start={(now - timedelta(days=20)):%Y-%m-%dT%H:%M:%SZ}&end={(now - timedelta(days=10)):%Y-%m-%dT%H:%M:%SZ}"
    )
    scenarios = {
        "first page": "/api/usage",
        "filtered page (model, status, 10 days)": f"/api/usage?model={used.model_id}&status=success&{window}",
        "filtered page (a model never used there)": f"/api/usage?model={unused.model_id}&{window}",
        "filtered page (rare: errors of one model)": f"/api/usage?model={used.model_id}&status=error",
        "page 21 (cursor)": url,
        "summary (30 days)": "/api/usage/summary",
        "summary (90 days)": f"/api/usage/summary?start={(now - timedelta(days=89)).date()}",
    }
    print(f"\nbig buyer: {big_records:,} records; {args.requests} requests each\n", flush=True)
    results = []
    for name, path in scenarios.items():
        row = timed(client, path, headers, args.requests)
        target = 100 if name.startswith("summary") else 50
        row |= {"name": name, "target_p95_ms": target, "ok": row["p95_ms"] <= target}
        results.append(row)
        verdict = "ok" if row["ok"] else "OVER TARGET"
        print(f"  {name:<46} p50 {row['p50_ms']:>7.2f} ms  p95 {row['p95_ms']:>7.2f} ms  (≤ {target} ms: {verdict})")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"records": args.records, "big_account": big_records, "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
