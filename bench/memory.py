"""Memory under the soak's mix, in one process: does anything grow per request in the gateway or the API?

    .venv/bin/python bench/memory.py [--requests 20000] [--concurrency 16] [--every 2000] [--tracemalloc]

Drives infer.asgi's application in this process (httpx's ASGI transport, no sockets) with the request
mix of bench/soak.py (chat completions streamed and not, text completions, /v1/models, /api/balance,
/api/notifications, /api/usage) against a demo node served by uvicorn in a thread. Every `--every`
requests it prints the RSS, the Python heap traced by tracemalloc (with --tracemalloc) and the size
of every per-process structure that could grow with requests, keys, accounts or loops; at the end
(with --tracemalloc) the lines whose retained memory grew most since the warm-up. A leak shows as a
structure or a line that keeps growing with the request count; a heap that levels off is not one.
Uses its own database (MEMORY_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/infer_bench_memory),
created and migrated on first use. Keep runs short on a shared machine: 20,000 requests is about a
minute of CPU without --tracemalloc.
"""

import argparse
import asyncio
import gc
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "infer.settings"
os.environ["DATABASE_URL"] = os.environ.get(
    "MEMORY_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/infer_bench_memory"
)
os.environ["DEBUG"] = "false"  # DEBUG keeps every query of a connection: not what production does
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402

from bench.database import ensure_database  # noqa: E402

MODEL = "llama-3.1-8b-instruct"
KINDS = ["chat", "chat_stream", "completion", "models", "balance", "notifications", "usage"]
WEIGHTS = [30, 30, 10, 5, 10, 5, 10]  # bench/soak.py's mix


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def structures() -> dict[str, int]:
    """Sizes of the per-process structures that live across requests."""
    from billing import services as billing_services
    from usage import gateway, lean, nodes, selectors
    from usage import services as usage_services

    return {
        "gateway._settled": len(gateway._settled),
        "gateway._health": len(gateway._health),
        "lean._pools": len(lean._pools),
        "lean._refreshing": len(lean._refreshing),
        "nodes._sessions": len(nodes._sessions),
        "selectors._route_cache": len(selectors._route_cache),
        "usage.services._buyer_ledger_ids": len(usage_services._buyer_ledger_ids),
        "billing.services._deferred_cache": len(billing_services._deferred_cache),
        "billing.services._system_ids": len(billing_services._system_ids),
        "asyncio tasks": len(asyncio.all_tasks()),
        "gc objects": len(gc.get_objects()),
    }


async def drive(app, key: str, *, requests: int, concurrency: int, every: int, seed: int, report) -> dict:
    counts: dict[str, int] = {}
    started = done = 0
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers, timeout=60) as c:

        async def worker(index: int):
            nonlocal started, done
            rng = random.Random(seed * 1000 + index)
            n = 0
            while started < requests:
                n += 1
                started += 1
                kind = rng.choices(KINDS, weights=WEIGHTS)[0]
                prompt = (
                    f"Memory worker {index}, request {n}: tell me about {rng.choice(['rivers', 'bread', 'stars'])}."
                )
                if kind in ("chat", "chat_stream"):
                    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 32}
                    body["stream"] = kind == "chat_stream"
                    response = await c.post("/v1/chat/completions", json=body)
                elif kind == "completion":
                    response = await c.post(
                        "/v1/completions", json={"model": MODEL, "prompt": prompt, "max_tokens": 16}
                    )
                else:
                    path = {"models": "/v1/models", "balance": "/api/balance", "notifications": "/api/notifications"}
                    response = await c.get(path.get(kind, "/api/usage"))
                outcome = f"{kind} {response.status_code}"
                counts[outcome] = counts.get(outcome, 0) + 1
                done += 1
                if done % every == 0:
                    await report(done)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--every", type=int, default=2_000)
    parser.add_argument("--tracemalloc", action="store_true", help="trace the Python heap (slower)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    ensure_database()
    from bench.gateway import setup
    from infer.asgi import application
    from tests.servers import ServerThread
    from usage.demo_node import DemoNode, DemoNodeConfig

    node = ServerThread(DemoNode(DemoNodeConfig()))
    _buyer, _ledger, key = setup(node.url)
    if args.tracemalloc:
        tracemalloc.start(8)
    baseline = {}

    async def report(done: int):
        gc.collect()
        heap = f" heap {tracemalloc.get_traced_memory()[0] / 2**20:7.1f} MiB" if args.tracemalloc else ""
        sizes = " ".join(f"{k}={v}" for k, v in structures().items())
        print(f"{done:>7} requests  RSS {rss_mib():7.1f} MiB{heap}  {sizes}", flush=True)

    async def run():
        counts = await drive(
            application, key, requests=args.warmup, concurrency=args.concurrency, every=10**9, seed=0, report=report
        )
        gc.collect()
        baseline["snapshot"] = tracemalloc.take_snapshot() if args.tracemalloc else None
        print(f"warm-up: {counts}", flush=True)
        await report(0)
        started = time.monotonic()
        counts = await drive(
            application,
            key,
            requests=args.requests,
            concurrency=args.concurrency,
            every=args.every,
            seed=args.seed,
            report=report,
        )
        elapsed = time.monotonic() - started
        print(f"{args.requests} requests in {elapsed:.0f} s: {dict(sorted(counts.items()))}", flush=True)
        from usage.lean import pools_close

        await pools_close()

    try:
        asyncio.run(run())
    finally:
        node.stop()
    if args.tracemalloc:
        gc.collect()
        diff = tracemalloc.take_snapshot().compare_to(baseline["snapshot"], "traceback")
        print("\nretained since the warm-up, by allocation site (top 12):")
        for stat in diff[:12]:
            print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
            for line in stat.traceback.format()[-6:]:
                print(f"      {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
