"""Gateway benchmark: the same load sent to a demo node directly and through the gateway, side by side.

Scenarios: concurrency 1, 16 and 64, streamed and not. For each, requests/s and latency p50/p99,
direct and through the gateway; the gateway's added latency is the difference of the percentiles,
and billed requests/s counts the UsageRecords the gateway committed in that window. Afterwards the
ledger is checked and the buyer's balance compared with the sum of the recorded costs.

    .venv/bin/python bench/gateway.py [--duration 5] [--workers 1] [--max-tokens 16] [--profile]

Processes: one demo node (`manage.py run_demo_node`), the gateway (uvicorn infer.asgi, `--workers`
processes), and this load generator (asyncio, a minimal HTTP/1.1 client); all on this machine, so they share its cores.
`--profile` runs the gateway (one worker) under cProfile and prints where its event loop spends time.
It uses its own database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/infer_bench_gateway),
created and migrated on first use.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infer.settings")
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/infer_bench_gateway"
)
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.pop("REDIS_URL", None)

import logging  # noqa: E402

import django  # noqa: E402

django.setup()
logging.getLogger("httpx").setLevel(logging.WARNING)

import httpx  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import account_create, api_key_create  # noqa: E402
from bench.database import ensure_database  # noqa: E402
from billing.checks import ledger_check  # noqa: E402
from billing.selectors import buyer_ledger_account  # noqa: E402
from billing.services import (  # noqa: E402
    holds_expire,
    ledger_rollup,
    system_ledger_account_id,
    transaction_post,
)
from usage.models import UsageRecord  # noqa: E402
from usage.services import node_create  # noqa: E402

MODEL = "llama-3.1-8b-instruct"
FUNDING = 10**15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup(node_url: str):
    """A funded buyer with a key, and an operator whose node is the demo node (fresh names each run)."""
    run = uuid.uuid4().hex[:8]
    buyer_user = User.objects.create_user(email=f"bench-buyer-{run}@example.com")
    buyer = account_create(name=f"bench buyer {run}", owner=buyer_user)
    ledger = buyer_ledger_account(account=buyer)
    transaction_post(
        idempotency_key=f"bench:fund:{run}",
        kind="adjustment",
        legs=[(ledger.id, FUNDING), (system_ledger_account_id("adjustments"), -FUNDING)],
    )
    _, secret = api_key_create(account=buyer, name="bench")
    operator_user = User.objects.create_user(email=f"bench-operator-{run}@example.com")
    operator = account_create(name=f"bench operator {run}", owner=operator_user, is_buyer=False, is_operator=True)
    node_create(account=operator, name=f"bench node {run}", base_url=node_url, model_ids=[MODEL])
    return buyer, ledger, secret


def wait_ready(url: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


class Connection:
    """A minimal HTTP/1.1 keep-alive client for the load generator.

    The load generator shares the machine's two cores with what it measures; httpx costs ~0.5 ms of
    CPU per request, which the gateway and the node would then miss. This writes prepared bytes and
    reads the response (Content-Length or chunked) with asyncio streams: a few tens of microseconds.
    """

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, head: bytes, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        reader = self.reader
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load(url: str, key: str | None, *, concurrency: int, duration: float, stream: bool, max_tokens: int):
    """Closed-loop load: `concurrency` workers each sending one request after another for `duration` s."""
    parts = urlsplit(url)
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
    if key:
        head += f"Authorization: Bearer {key}\r\n"
    head = head.encode()
    latencies, errors = [], 0

    async def worker(index, connection):
        nonlocal errors
        n = 0
        while time.monotonic() < stop:
            n += 1
            body = json.dumps(
                {
                    "model": MODEL,
                    "messages": [{"role": "user", "content": f"Worker {index} asks question {n} about rivers."}],
                    "max_tokens": max_tokens,
                    "stream": stream,
                }
            ).encode()
            t0 = time.perf_counter()
            try:
                ok = await connection.request(head, body) == 200
            except (OSError, asyncio.IncompleteReadError, ValueError):
                connection.close()
                ok = False
            if ok:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1

    connections = [Connection(parts.hostname, parts.port) for _ in range(concurrency)]
    try:
        # A short warm-up (connections, caches) that is not measured.
        stop = time.monotonic() + 0.5
        await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
        latencies.clear()
        errors = 0
        started = time.monotonic()
        stop = started + duration
        await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
        elapsed = time.monotonic() - started
    finally:
        for connection in connections:
            connection.close()
    return {
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "ok": len(latencies),
        "errors": errors,
        "seconds": elapsed,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def start(cmd, env):
    return subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per scenario")
    parser.add_argument("--workers", type=int, default=1, help="gateway processes")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--node-latency-ms",
        type=int,
        default=0,
        help="the demo node waits this long before answering, like a node generating (0: instantly)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the gateway (forces --workers 1)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    ensure_database()
    python = sys.executable
    env = dict(os.environ, DEBUG="false", LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    node_port, gateway_port = free_port(), free_port()
    node_cmd = [python, "manage.py", "run_demo_node", "--port", str(node_port)]
    node = start([*node_cmd, "--latency-ms", str(args.node_latency_ms)], env)
    profile_path = ROOT / "var" / "gateway.prof"
    uvicorn_args = ["infer.asgi:application", "--host", "127.0.0.1", "--port", str(gateway_port)]
    uvicorn_args += ["--log-level", "warning", "--no-access-log", "--lifespan", "on"]
    if args.profile:
        profile_path.parent.mkdir(exist_ok=True)
        gateway_cmd = [python, "-m", "cProfile", "-o", str(profile_path), "-m", "uvicorn", *uvicorn_args]
    else:
        gateway_cmd = [python, "-m", "uvicorn", *uvicorn_args, "--workers", str(args.workers)]
    gateway = start(gateway_cmd, env)
    results = []
    try:
        node_url = f"http://127.0.0.1:{node_port}"
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        wait_ready(node_url + "/v1/models")
        wait_ready(gateway_url + "/v1/models")
        buyer, ledger, key = setup(node_url)
        print(
            f"{'stream':>6} {'conc':>4} | {'direct rps':>10} {'p50':>7} {'p99':>7} | {'gateway rps':>11} "
            f"{'p50':>7} {'p99':>7} {'billed/s':>8} | {'added p50':>9} {'added p99':>9} | {'gw cpu ms/req':>13}",
            flush=True,
        )
        for stream in (False, True):
            for concurrency in args.concurrency:
                common = dict(
                    concurrency=concurrency, duration=args.duration, stream=stream, max_tokens=args.max_tokens
                )
                direct = asyncio.run(load(node_url + "/v1/chat/completions", None, **common))
                before = UsageRecord.objects.filter(account=buyer).count()
                cpu_before = cpu_seconds(gateway.pid)
                via = asyncio.run(load(gateway_url + "/v1/chat/completions", key, **common))
                cpu = cpu_seconds(gateway.pid) - cpu_before
                billed = UsageRecord.objects.filter(account=buyer).count() - before
                row = {
                    "stream": stream,
                    "concurrency": concurrency,
                    "direct": direct,
                    "gateway": via,
                    "billed_per_second": billed / via["seconds"],
                    "added_p50_ms": via["p50"] - direct["p50"],
                    "added_p99_ms": via["p99"] - direct["p99"],
                    # CPU the gateway process spent per request (includes the 0.5 s warm-up's requests
                    # in the CPU but not in the count, so it slightly overstates).
                    "gateway_cpu_ms_per_request": cpu * 1000 / max(1, via["ok"]),
                }
                results.append(row)
                print(
                    f"{stream!s:>6} {concurrency:>4} | {direct['rps']:>10.0f} {direct['p50']:>7.2f} "
                    f"{direct['p99']:>7.2f} | {via['rps']:>11.0f} {via['p50']:>7.2f} {via['p99']:>7.2f} "
                    f"{row['billed_per_second']:>8.0f} | {row['added_p50_ms']:>9.2f} {row['added_p99_ms']:>9.2f} | "
                    f"{row['gateway_cpu_ms_per_request']:>13.2f}"
                    + (f"  errors {via['errors']}" if via["errors"] or direct["errors"] else ""),
                    flush=True,
                )
    finally:
        stop(gateway)
        stop(node)

    ledger_rollup()
    holds_expire()  # what beat does every 30 s: holds of requests that died (none expected here)
    report = ledger_check()
    ledger.refresh_from_db()
    spent = sum(UsageRecord.objects.filter(account=buyer).values_list("cost_nanos", flat=True))
    exact = ledger.balance_nanos == FUNDING - spent and ledger.held_nanos == 0
    print(f"ledger check: {'ok' if report.ok else report.problems}; buyer balance exact: {exact}")
    if args.profile and profile_path.exists():
        import pstats

        print("\nWhere the gateway's event-loop thread spends its time (cProfile, by own time):")
        pstats.Stats(str(profile_path)).sort_stats("tottime").print_stats(25)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if report.ok and exact else 1


if __name__ == "__main__":
    sys.exit(main())
