"""Every benchmark in one run (`make bench`): gateway, ledger and usage API, written to bench/results/ as markdown.

    .venv/bin/python bench/run.py [--duration 5] [--quick]

Each benchmark runs as its own process (they set up Django on their own databases) and hands back
JSON; this script adds a description of the machine (CPU model, cores, memory, PostgreSQL version) and
writes bench/results/<UTC time>.md. Run it on a quiet machine: other work on the cores skews every
figure. `--quick` (short scenarios, fewer concurrency levels) only proves the pipeline works.
"""

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )
    mem_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    try:
        import psycopg

        url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres") as conn:
            postgres = conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:  # the table still gets written; the figures below say more than this line
        postgres = f"unknown ({exc.__class__.__name__})"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "postgresql": postgres,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def run(script: str, args: list[str]) -> tuple[list[dict] | None, str]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = Path(out.name)
    print(f"== {script} {' '.join(args)}", flush=True)
    completed = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args, "--json", str(path)], cwd=ROOT)
    rows = json.loads(path.read_text()) if path.exists() and path.stat().st_size else None
    path.unlink(missing_ok=True)
    status = "ok" if completed.returncode == 0 else f"exit {completed.returncode}"
    return rows, status


def ledger_table(rows) -> list[str]:
    lines = [
        "| scenario | concurrency | processes | settlements/s | mean batch | p50 ms | p99 ms | exact |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['concurrency']} | {r['processes']} | {r['per_second']} | {r['mean_batch']} "
            f"| {r['p50_ms']} | {r['p99_ms']} | {'yes' if r['exact'] else 'NO'} |"
        )
    return lines


def gateway_table(rows) -> list[str]:
    lines = [
        "| stream | concurrency | direct req/s | gateway req/s | billed/s | gateway p50 ms | gateway p99 ms "
        "| added p50 ms | added p99 ms | gateway CPU ms/req | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        g = r["gateway"]
        lines.append(
            f"| {r['stream']} | {r['concurrency']} | {r['direct']['rps']:.0f} | {g['rps']:.0f} "
            f"| {r['billed_per_second']:.0f} | {g['p50']:.1f} | {g['p99']:.1f} | {r['added_p50_ms']:.1f} "
            f"| {r['added_p99_ms']:.1f} | {r['gateway_cpu_ms_per_request']:.2f} | {g['errors']} |"
        )
    return lines


def generic_table(rows) -> list[str]:
    keys = list(rows[0]) if rows else []
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per scenario")
    parser.add_argument("--quick", action="store_true", help="1 s scenarios, fewer levels: proves it works")
    args = parser.parse_args()
    duration = ["--duration", "1" if args.quick else str(args.duration)]
    started = dt.datetime.now(dt.UTC)
    about = machine()
    sections, failed = [], False

    out, status = run("ledger.py", [*duration, *(["--concurrency", "1,16", "--holds", "5000"] if args.quick else [])])
    failed |= status != "ok"
    sections += ["## Ledger: settlements per second (bench/ledger.py)", f"Status: {status}.", ""]
    sections += [*ledger_table((out or {}).get("scenarios", [])), ""]
    if out:
        sections += [f"Low-balance check: {out['alerts_check_ns']} ns per settlement (no threshold crossed).", ""]

    rows, status = run("gateway.py", [*duration, *(["--concurrency", "1", "16"] if args.quick else [])])
    failed |= status != "ok"
    sections += [
        "## Gateway: direct to a demo node vs through the gateway (bench/gateway.py)",
        f"Status: {status}.",
        "",
    ]
    sections += [*gateway_table(rows or []), ""]

    if (ROOT / "bench" / "usage_api.py").exists():
        # Loading 10M records takes about ten minutes; a later run reuses them (--reuse).
        out, status = run("usage_api.py", ["--reuse"] + (["--records", "200000"] if args.quick else []))
        failed |= status != "ok"
        records = f"{out['records']:,} records, {out['big_account']:,} in the measured account" if out else ""
        sections += ["## Usage API (bench/usage_api.py)", f"Status: {status}. {records}", ""]
        sections += [*generic_table((out or {}).get("results", [])), ""]
    else:
        sections += ["## Usage API", "Skipped: bench/usage_api.py is not in this checkout yet.", ""]

    quick = " (quick: proves the pipeline, not the figures)" if args.quick else ""
    header = [
        f"# Benchmarks, {started:%Y-%m-%d %H:%M} UTC{quick}",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key.replace('_', ' ')} | {value} |" for key, value in about.items()),
        "",
        "All processes (load generator, gateway, demo node, PostgreSQL) share these cores.",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{started:%Y%m%dT%H%M%SZ}{'-quick' if args.quick else ''}.md"
    path.write_text("\n".join(header + sections))
    print(f"wrote {path.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
