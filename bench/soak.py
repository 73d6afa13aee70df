"""Soak: mixed traffic for N minutes against real processes; every process's memory (RSS) at start and end.

    .venv/bin/python bench/soak.py --minutes 10 [--concurrency 16] [--workers 2] [--redis-url redis://...]

Processes: a demo node, the gateway (uvicorn, `--workers`), a Celery worker (the embedded filesystem
broker unless --redis-url), and this load generator. Traffic, mixed at random (seeded): chat
completions streamed and not, text completions, /v1/models, /api/balance, /api/notifications and
/api/usage (where the usage API exists). The buyer is funded so that the low-balance alerts fire
during the run, so Celery has work too. RSS is read from /proc after a warm-up (--warmup, 60 s:
allocators and caches fill first) and then every --sample-seconds until the end, so the table shows
whether memory levels off: a leak keeps growing in the second half as in the first. Afterwards the
ledger is checked.
Uses bench/gateway.py's database (BENCH_DATABASE_URL).
"""

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# bench.gateway sets up Django on the bench database: import it before anything that needs models.

import httpx

from bench.database import ensure_database
from bench.gateway import (
    MODEL,
    ROOT,
    free_port,
    setup,
    start,
    stop,
    wait_ready,
)
from billing.checks import ledger_check
from billing.services import holds_expire, ledger_rollup


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def family(pid: int) -> list[int]:
    """A process and its descendants (uvicorn's and Celery's worker processes)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            todo += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            pass
    return pids


def snapshot(named: dict) -> dict:
    out = {}
    for name, process in named.items():
        for pid in family(process.pid):
            try:
                out[f"{name} (pid {pid})"] = rss_kib(pid)
            except OSError:
                pass
    import os

    out[f"load generator (pid {os.getpid()})"] = rss_kib(os.getpid())
    return out


async def traffic(gateway_url: str, key: str, *, seconds: float, concurrency: int, seed: int, with_usage: bool) -> dict:
    counts: dict[str, int] = {}
    kinds = ["chat", "chat_stream", "completion", "models", "balance", "notifications", "usage"]
    weights = [30, 30, 10, 5, 10, 5, 10 if with_usage else 0]
    headers = {"Authorization": f"Bearer {key}"}
    stop_at = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=gateway_url, headers=headers, timeout=60, trust_env=False) as client:

        async def worker(index: int):
            rng = random.Random(seed * 1000 + index)
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                kind = rng.choices(kinds, weights=weights)[0]
                prompt = f"Soak worker {index}, request {n}: tell me about {rng.choice(['rivers', 'bread', 'stars'])}."
                try:
                    if kind in ("chat", "chat_stream"):
                        body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 32}
                        body["stream"] = kind == "chat_stream"
                        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                            async for _ in response.aiter_raw():
                                pass
                    elif kind == "completion":
                        response = await client.post(
                            "/v1/completions", json={"model": MODEL, "prompt": prompt, "max_tokens": 16}
                        )
                    else:
                        path = {
                            "models": "/v1/models",
                            "balance": "/api/balance",
                            "notifications": "/api/notifications",
                        }
                        response = await client.get(path.get(kind, "/api/usage"))
                    outcome = f"{kind} {response.status_code}"
                except httpx.HTTPError as exc:
                    outcome = f"{kind} {type(exc).__name__}"
                counts[outcome] = counts.get(outcome, 0) + 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gateway processes")
    parser.add_argument("--redis-url", default="", help="broker and cache (default: the embedded broker)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=60, help="seconds of traffic before the first reading")
    parser.add_argument("--sample-seconds", type=float, default=60, help="seconds between RSS readings")
    args = parser.parse_args()

    import os

    ensure_database()
    env = dict(os.environ, DEBUG="false", LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    python = sys.executable
    if not args.redis_url:  # the embedded broker's folders, as `make run` creates them
        for sub in ("broker/queue", "broker/processed"):
            (ROOT / "var" / sub).mkdir(parents=True, exist_ok=True)
    node_port, gateway_port = free_port(), free_port()
    uvicorn = ["-m", "uvicorn", "infer.asgi:application", "--host", "127.0.0.1", "--port", str(gateway_port)]
    uvicorn += ["--log-level", "warning", "--no-access-log", "--lifespan", "on", "--workers", str(args.workers)]
    processes = {
        "demo node": start([python, "manage.py", "run_demo_node", "--port", str(node_port)], env),
        "gateway": start([python, *uvicorn], env),
        "celery worker": start(
            [python, "-m", "celery", "-A", "infer", "worker", "--loglevel", "WARNING", "--concurrency", "1"], env
        ),
    }
    try:
        node_url, gateway_url = f"http://127.0.0.1:{node_port}", f"http://127.0.0.1:{gateway_port}"
        wait_ready(node_url + "/v1/models")
        wait_ready(gateway_url + "/v1/models")
        _buyer, _ledger, key = setup(node_url)
        # /api/usage comes with the usage API; without it the mix leaves it out.
        probe = httpx.get(gateway_url + "/api/usage", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        common = dict(concurrency=args.concurrency, with_usage=probe.status_code != 404)
        if not common["with_usage"]:
            print("/api/usage is not in this checkout: the mix leaves it out", flush=True)
        asyncio.run(traffic(gateway_url, key, seconds=args.warmup, seed=args.seed, **common))  # warm-up
        readings = [(0.0, snapshot(processes))]
        started = time.monotonic()

        async def run_and_sample():
            run = asyncio.ensure_future(
                traffic(gateway_url, key, seconds=args.minutes * 60, seed=args.seed + 1, **common)
            )
            while not run.done():
                await asyncio.wait([run], timeout=args.sample_seconds)
                if not run.done():
                    readings.append((time.monotonic() - started, snapshot(processes)))
                    print(
                        f"  {readings[-1][0]:.0f} s: RSS MiB "
                        + ", ".join(f"{name.split(' (')[0]} {kib / 1024:.0f}" for name, kib in readings[-1][1].items()),
                        flush=True,
                    )
            return run.result()

        counts = asyncio.run(run_and_sample())
        elapsed = time.monotonic() - started
        readings.append((elapsed, snapshot(processes)))
    finally:
        for process in processes.values():
            stop(process)

    total = sum(counts.values())
    print(f"\n{total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s), by kind and outcome:")
    for outcome, count in sorted(counts.items()):
        print(f"  {outcome:<32} {count}")
    before, after = readings[0][1], readings[-1][1]
    middle = min(readings, key=lambda reading: abs(reading[0] - elapsed / 2))[1]
    print(f"\nRSS after the {args.warmup:.0f} s warm-up, at mid-run and at the end (MiB); growth in each half:")
    print(f"{'process':<40} {'start':>8} {'middle':>8} {'end':>8} {'1st half':>9} {'2nd half':>9}")
    for name in before:
        start_mib, mid_mib, end_mib = (r.get(name, 0) / 1024 for r in (before, middle, after))
        if not (start_mib and mid_mib and name in after):
            print(f"{name:<40} {start_mib:>8.1f} {'gone':>8}")
            continue
        first, second = (mid_mib / start_mib - 1) * 100, (end_mib / mid_mib - 1) * 100
        print(f"{name:<40} {start_mib:>8.1f} {mid_mib:>8.1f} {end_mib:>8.1f} {first:>+8.1f}% {second:>+8.1f}%")
    ledger_rollup()
    holds_expire()
    report = ledger_check()
    print(f"\nledger check: {'ok' if report.ok else report.problems}")
    errors = sum(c for outcome, c in counts.items() if not outcome.endswith((" 200",)))
    print(f"non-200 answers: {errors}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
