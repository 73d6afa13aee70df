"""PostgreSQL really restarted under load: once cleanly (`pg_ctl restart -m fast`), once as a crash
(`-m immediate`: recovery from the WAL). The gateway and a demo node run as processes against a private
PostgreSQL server (tests/pgserver.py; the machine's own is shared), driven by the official `openai`
client from a few threads, streamed and not.

Every failure is an OpenAI-style server error (never a dropped connection, a hang or a bare 500 page),
requests succeed again afterwards, and nothing is half-written: each answered request is billed once
at the cost its response showed, no failed request is billed, no hold stays open and the ledger checks.
Seeded: which requests stream comes from SEED.
"""

import json
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import openai
import pytest

from tests.pgserver import PG_BIN

from . import processes

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SEED = 15
USD = 1_000_000_000
FUNDING = 100 * USD
MODEL = "llama-3.1-8b-instruct"
THREADS = 4
# A request's answer takes ~0.1 s at this speed, so every restart finds requests in flight.
TOKENS_PER_SECOND = 300
MAX_TOKENS = 24
OUTAGE_SECONDS = 4

SEED_SCRIPT = """
import json
from accounts.models import User
from accounts.services import account_create, api_key_create
from billing.selectors import buyer_ledger_account
from billing.services import system_ledger_account_id, transaction_post
from usage.services import node_create

buyer = account_create(name="restart buyer", owner=User.objects.create_user(email="buyer@restart.test"))
ledger = buyer_ledger_account(account=buyer)
transaction_post(
    idempotency_key="restart:funding",
    kind="adjustment",
    legs=[(ledger.id, {funding}), (system_ledger_account_id("adjustments"), -{funding})],
)
_, secret = api_key_create(account=buyer, name="restart")
operator_user = User.objects.create_user(email="operator@restart.test")
operator = account_create(name="restart operator", owner=operator_user, is_buyer=False, is_operator=True)
node_create(account=operator, name="gpu", base_url="{node_url}", model_ids=["{model}"])
print(json.dumps({{"account": buyer.id, "key": secret}}))
"""

# The holds task with a `now` past every hold's expiry, the rollup, then the facts the test checks.
AFTER_SCRIPT = """
import json
from datetime import timedelta
from django.utils import timezone
from billing.checks import ledger_check
from billing.models import Hold, LedgerAccount, Transaction
from billing.services import holds_expire, ledger_rollup
from usage.models import UsageRecord

expired = holds_expire(now=timezone.now() + timedelta(days=1))
ledger_rollup()
ledger = LedgerAccount.objects.get(owner_id={account}, kind="buyer")
records = UsageRecord.objects.filter(account_id={account}).values_list("request_id", "cost_nanos", "status")
report = ledger_check()
print(json.dumps({{
    "expired": expired,
    "balance": ledger.balance_nanos,
    "held": ledger.held_nanos,
    "in_flight": ledger.in_flight,
    "open_holds": Hold.objects.filter(released_at__isnull=True).count(),
    "records": [[str(r), c, s] for r, c, s in records],
    "usage_keys": list(Transaction.objects.filter(kind="usage").values_list("idempotency_key", flat=True)),
    "ledger_ok": report.ok,
    "problems": [str(p) for p in report.problems],
}}))
"""


@dataclass
class Outcome:
    """One request as the client saw it."""

    n: int
    stream: bool
    started: float
    ended: float
    ok: bool = False
    status: int | None = None
    request_id: str | None = None
    cost: str | None = None
    cost_nanos: int | None = None
    error: object = None  # the error object (a dict when it is OpenAI's shape) or what went wrong
    failure: str = ""  # "status": an HTTP error; "event": an error event in a stream; "connection": no answer


def _manage(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=processes.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _script(env: dict, code: str) -> dict:
    result = _manage(env, "shell", "-c", code)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _schema_copy(server, env: dict):
    """The test database's schema and reference data (pytest-django migrated it) into the private server,
    then `migrate` there, which has nothing left to apply (a migration from scratch takes over a minute)."""
    from django.db import connection

    db = connection.settings_dict
    source = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    dump = server.root / "schema.dump"
    subprocess.run(
        [PG_BIN / "pg_dump", "-Fc", "--no-owner", "--no-privileges", "-f", dump, source],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        [PG_BIN / "pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "-d", server.url, dump],
        check=True,
        capture_output=True,
        timeout=60,
    )
    result = _manage(env, "migrate", "--no-input", "-v", "0")
    assert result.returncode == 0, result.stdout + result.stderr


def _ask(client: openai.OpenAI, n: int, stream: bool) -> Outcome:
    outcome = Outcome(n=n, stream=stream, started=time.monotonic(), ended=0.0)
    request = dict(
        model=MODEL,
        messages=[{"role": "user", "content": f"Question {n} about the rivers of Europe."}],
        max_tokens=MAX_TOKENS,
    )
    try:
        if stream:
            with client.chat.completions.with_streaming_response.create(**request, stream=True) as response:
                outcome.status = response.status_code
                outcome.request_id = response.headers.get("X-Request-Id")
                usage = None
                for chunk in response.parse():
                    usage = chunk.usage or usage
        else:
            response = client.chat.completions.with_raw_response.create(**request)
            outcome.status = response.status_code
            outcome.request_id = response.headers.get("X-Request-Id")
            usage = response.parse().usage
        outcome.ok = usage is not None
        if usage is not None:
            outcome.cost, outcome.cost_nanos = usage.model_extra["cost"], usage.model_extra["cost_nanos"]
        else:
            outcome.error, outcome.failure = "an answer without usage", "event"
    except openai.APIStatusError as exc:
        outcome.status, outcome.error, outcome.failure = exc.status_code, exc.body, "status"
        outcome.request_id = exc.response.headers.get("X-Request-Id")
    except openai.APIConnectionError as exc:  # a reset, a timeout (a hang): not a clean failure
        outcome.error, outcome.failure = repr(exc), "connection"
    except openai.APIError as exc:  # an error event in a stream whose status line went out already
        outcome.error, outcome.failure = exc.body, "event"
    outcome.ended = time.monotonic()
    return outcome


class Load:
    """THREADS clients sending requests one after another until stopped; every outcome kept."""

    def __init__(self, url: str, key: str, rng: random.Random):
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next = 0
        self._plan = [rng.random() < 0.5 for _ in range(100_000)]  # which request streams
        self._client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(THREADS)]

    def ask(self, stream: bool | None = None) -> Outcome:
        """One request (streamed as the seeded plan says, unless told), recorded with the others."""
        with self._lock:
            n, self._next = self._next, self._next + 1
        outcome = _ask(self._client, n, self._plan[n] if stream is None else stream)
        with self._lock:
            self.outcomes.append(outcome)
        return outcome

    def _run(self):
        while not self._stop.is_set():
            self.ask()

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(90)
            assert not thread.is_alive(), "a client still waits for an answer: the gateway hangs"

    def successes_after(self, moment: float) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.ok and o.started > moment)

    def wait_for_successes(self, count: int, *, after: float, what: str):
        processes.wait_until(lambda: self.successes_after(after) >= count, timeout=30, what=what)


def _clean_failure(outcome: Outcome) -> bool:
    """The gateway's answer while its database is away: a 503 in OpenAI's shape, or (a stream whose
    status line went out already) an error event of the same shape ending the stream."""
    error = outcome.error
    if not (isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}):
        return False
    if (error["type"], error["code"]) != ("server_error", "service_unavailable"):
        return False
    return (outcome.failure, outcome.status) in (("status", 503), ("event", 200))


def test_postgres_restarted_under_load_fails_cleanly_recovers_and_bills_exactly(tmp_path, postgres_server):
    server = postgres_server
    rng = random.Random(SEED)
    # Production's route cache; admissions wait at most OUTAGE_SECONDS / 2 for a pooled connection, so
    # the long outage below is answered with 503s, while settlements wait it out (up to 10 s).
    env = processes.child_env(
        DATABASE_URL=server.url,
        GATEWAY_ROUTE_CACHE_SECONDS=2,
        GATEWAY_DB_POOL_TIMEOUT_SECONDS=OUTAGE_SECONDS // 2,
        GATEWAY_SETTLE_RECONNECT_SECONDS=10,
    )
    _schema_copy(server, env)

    started = []
    try:
        node_port = processes.free_port()
        node = processes.Process(
            ["manage.py", "run_demo_node", "--port", str(node_port), "--tokens-per-second", str(TOKENS_PER_SECOND)],
            env,
            tmp_path / "node.log",
        ).start()
        started.append(node)
        processes.wait_until(lambda: processes.port_open(node_port), timeout=30, what="the demo node")
        seeded = _script(
            env, SEED_SCRIPT.format(funding=FUNDING, node_url=f"http://127.0.0.1:{node_port}", model=MODEL)
        )
        gateway, url = processes.gateway(env, tmp_path / "gateway.log")
        started.append(gateway)

        load = Load(url, seeded["key"], rng).start()
        restarts = []
        try:
            load.wait_for_successes(10, after=0, what="requests before the first restart")
            for mode in ("fast", "immediate", "down"):
                begun = time.monotonic()
                if mode == "down":  # a crash, and the server back only OUTAGE_SECONDS later
                    server.stop("immediate")
                    # The load's requests in flight wait for their settlements; new ones come from here.
                    while time.monotonic() < begun + OUTAGE_SECONDS:
                        load.ask()
                    server.start()
                else:
                    server.restart(mode)
                restarts.append((mode, begun, time.monotonic()))
                # Afterwards requests succeed again (a generous deadline; no claim about speed).
                load.wait_for_successes(10, after=time.monotonic(), what=f"requests to succeed after {mode}")
        finally:
            load.stop()
        outcomes = load.outcomes

        # The restarts happened under load: requests were in flight at each.
        for mode, begun, _ in restarts:
            assert any(o.started < begun < o.ended for o in outcomes), f"no request in flight at {mode}"
        # Short restarts are waited out; the long outage is answered with errors (checked below).
        _, down_from, down_to = restarts[-1]
        assert any(not o.ok and down_from < o.ended < down_to for o in outcomes), "no request failed while down"

        # Every failure is clean: an OpenAI-style 5xx, or an error event ending a stream.
        failures = [o for o in outcomes if not o.ok]
        unclean = [(o.failure, o.status, o.error) for o in failures if not _clean_failure(o)]
        assert not unclean, unclean

        # A client that retries gets through within a bounded number of attempts.
        for stream in (False, True):
            for _ in range(5):
                if load.ask(stream).ok:
                    break
            else:
                raise AssertionError(f"no success in 5 attempts after the restarts (stream={stream})")

        gateway.stop()  # its settlements are all in (each answer waited for its commit)
        after = _script(env, AFTER_SCRIPT.format(account=seeded["account"]))
        check = _manage(env, "check_ledger")
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        for process in started:
            process.stop()

    assert after["ledger_ok"], after["problems"]
    assert (after["open_holds"], after["held"], after["in_flight"]) == (0, 0, 0)

    # Nothing half-written: each usage transaction has its record and each charged record its transaction.
    records = {rid: (cost, status) for rid, cost, status in after["records"]}
    charged = {rid for rid, (cost, _) in records.items() if cost > 0}
    assert {key for key in after["usage_keys"]} == {f"usage:{rid}" for rid in charged}
    assert after["balance"] == FUNDING - sum(cost for cost, _ in records.values())

    # Every answered request is billed exactly the cost it showed; no failed request is billed.
    answered = [o for o in outcomes if o.ok]
    assert len({o.request_id for o in answered}) == len(answered)
    for o in answered:
        assert o.cost_nanos > 0 and records[o.request_id] == (o.cost_nanos, "success"), (o, records.get(o.request_id))
    assert charged == {o.request_id for o in answered}, "a failed request was billed"
