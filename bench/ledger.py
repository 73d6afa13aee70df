"""Ledger benchmark: settlements per second on PostgreSQL, through the group committer.

A settlement is what the gateway posts after a request: buyer −cost, operator +80%, platform +20%,
with the request's hold released, under the key `usage:<request>`. Scenarios: 1, 4 and 16
concurrent workers, for one hot buyer and for 1,000 buyers. Workers are threads spread over
`--processes` processes (like gateway workers), each process with one group committer. After every
scenario the ledger is verified (`ledger_check`) and the buyers' balances are compared with what
was settled, so a lost update cannot hide behind a fast number.

    .venv/bin/python bench/ledger.py [--duration 5] [--processes 2] [--json out.json]

It uses its own database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/infer_bench),
created and migrated on first use.
"""

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infer.settings")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/infer_bench")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402

from bench.database import ensure_database  # noqa: E402
from billing.batching import GroupCommitter  # noqa: E402
from billing.checks import ledger_check  # noqa: E402
from billing.models import LedgerAccount  # noqa: E402
from billing.money import request_cost, revenue_split  # noqa: E402
from billing.services import Posting, system_ledger_account_id, transactions_post  # noqa: E402

COST = request_cost(input_tokens=500, output_tokens=200, input_price_nanos=100, output_price_nanos=150)
HOLD = 100_000


def reset(buyers: int) -> tuple[list[int], int, int]:
    """Fresh accounts: `buyers` funded buyers and one operator. Returns (buyer ids, operator, platform)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE billing_entry, billing_transaction, billing_balancedelta, billing_hold, "
            "billing_ledgeraccount, accounts_membership, accounts_apikey, accounts_account CASCADE"
        )
        cursor.execute(
            "INSERT INTO accounts_account (code, name, is_buyer, is_operator, status, created_at) "
            "SELECT gen_random_uuid(), 'bench ' || g, true, g = 0, 'active', now() FROM generate_series(0, %s) g",
            [buyers],
        )
        cursor.execute(
            "INSERT INTO billing_ledgeraccount "
            "(key, kind, owner_id, is_deferred, balance_nanos, held_nanos, in_flight, created_at) "
            "SELECT 'buyer:' || id, 'buyer', id, false, 0, 0, 0, now() "
            "FROM accounts_account WHERE name <> 'bench 0' "
            "UNION ALL SELECT 'operator:' || id, 'operator_earnings', id, true, 0, 0, 0, now() "
            "FROM accounts_account WHERE name = 'bench 0'"
        )
    from billing import services

    services._deferred_cache.clear()
    services._system_ids.clear()
    buyer_ids = list(LedgerAccount.objects.filter(kind="buyer").order_by("id").values_list("id", flat=True))
    operator = LedgerAccount.objects.get(kind="operator_earnings").id
    platform = system_ledger_account_id("platform:revenue")
    adjustments = system_ledger_account_id("adjustments")
    funding = 10**15 // len(buyer_ids)
    for start in range(0, len(buyer_ids), 500):
        transactions_post(
            [
                Posting(f"fund:{b}", "adjustment", ((b, funding), (adjustments, -funding)))
                for b in buyer_ids[start : start + 500]
            ]
        )
    return buyer_ids, operator, platform


def place_holds(buyer_ids: list[int], count: int) -> list[tuple[int, int]]:
    """Open `count` request holds round-robin over the buyers, in bulk (admission is not measured here)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_hold (ledger_account_id, kind, key, amount_nanos, created_at, expires_at) "
            "SELECT (%s::bigint[])[1 + g %% %s], 'request', 'request:' || g, %s, now(), now() + interval '1 hour' "
            "FROM generate_series(0, %s - 1) g RETURNING id, ledger_account_id",
            [buyer_ids, len(buyer_ids), HOLD, count],
        )
        holds = cursor.fetchall()
        cursor.execute(
            "UPDATE billing_ledgeraccount a SET held_nanos = h.total, in_flight = h.n "
            "FROM (SELECT ledger_account_id, SUM(amount_nanos) total, COUNT(*) n FROM billing_hold "
            "WHERE released_at IS NULL GROUP BY ledger_account_id) h WHERE h.ledger_account_id = a.id"
        )
    return sorted(holds)


def _settle(postings):
    return transactions_post(postings).results


def worker_process(holds, threads, operator, platform, duration, out):
    connections.close_all()
    committer = GroupCommitter(_settle).start()
    latencies, done = [], [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + duration
    op, pf = revenue_split(COST)

    def run(my_holds):
        mine = []
        for hold_id, buyer in my_holds:
            if time.perf_counter() >= deadline:
                break
            started = time.perf_counter()
            posting = Posting(
                f"usage:{hold_id}", "usage", ((buyer, -COST), (operator, op), (platform, pf)), release_hold_id=hold_id
            )
            result = committer.submit(posting).result()
            if result.error is not None:
                raise result.error
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            done[0] += len(mine)

    pool = [threading.Thread(target=run, args=(holds[i::threads],)) for i in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    committer.stop()
    out.put({"done": done[0], "elapsed": elapsed, "latencies": latencies, "batches": committer.batches})


def scenario(name, buyer_count, concurrency, processes, duration, holds_per_scenario):
    buyer_ids, operator, platform = reset(buyer_count)
    holds = place_holds(buyer_ids, holds_per_scenario)
    before = dict(LedgerAccount.objects.filter(kind="buyer").values_list("id", "balance_nanos"))
    connections.close_all()
    procs = min(processes, concurrency)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    children = []
    for p in range(procs):
        threads = concurrency // procs + (1 if p < concurrency % procs else 0)
        child = ctx.Process(target=worker_process, args=(holds[p::procs], threads, operator, platform, duration, out))
        child.start()
        children.append(child)
    reports = [out.get() for _ in children]
    for child in children:
        child.join()
    done = sum(r["done"] for r in reports)
    elapsed = max(r["elapsed"] for r in reports)
    latencies = sorted(x for r in reports for x in r["latencies"])
    batches = sum(r["batches"] for r in reports)

    # Exactness: every buyer lost exactly COST per settlement, the ledger balances, no hold leaks.
    settled = LedgerAccount.objects.filter(kind="buyer").values_list("id", "balance_nanos")
    lost = sum(before[i] - b for i, b in settled)
    report = ledger_check()
    exact = report.ok and lost == done * COST
    row = {
        "scenario": name,
        "buyers": buyer_count,
        "concurrency": concurrency,
        "processes": procs,
        "settlements": done,
        "per_second": round(done / elapsed),
        "mean_batch": round(done / max(batches, 1), 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2) if latencies else None,
        "exact": exact,
    }
    if not exact:
        row["problems"] = [*report.problems[:5], f"buyers lost {lost}, expected {done * COST}"]
    print(
        f"{name:>12} c={concurrency:<3} {row['per_second']:>6}/s  batch≈{row['mean_batch']:<6} "
        f"p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  exact={exact}",
        flush=True,
    )
    return row


def alerts_check_cost(batch: int = 50, rounds: int = 20_000) -> float:
    """Nanoseconds the low-balance check adds per settlement when no threshold is crossed (the request
    path's case): it compares balances already in hand, so it should not show next to a settlement."""
    from billing.alerts import alerts_record

    changes = {i: (i, 100 * 10**9, 100 * 10**9 - COST) for i in range(batch)}
    started = time.perf_counter_ns()
    for _ in range(rounds):
        alerts_record(changes=changes)
    return (time.perf_counter_ns() - started) / (rounds * batch)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per scenario")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (like gateway workers)")
    parser.add_argument("--holds", type=int, default=60_000, help="request holds opened per scenario")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    ensure_database()
    rows = []
    for buyers, label in ((1, "hot buyer"), (1_000, "1,000 buyers")):
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            rows.append(scenario(label, buyers, concurrency, args.processes, args.duration, args.holds))
    alerts_ns = alerts_check_cost()
    print(f"low-balance check: {alerts_ns:.0f} ns per settlement (no threshold crossed)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"scenarios": rows, "alerts_check_ns": round(alerts_ns)}, indent=2))
    if not all(r["exact"] for r in rows):
        print("LEDGER NOT EXACT", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
