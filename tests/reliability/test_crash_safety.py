"""kill -9 in the middle of the work: an ASGI (uvicorn) worker mid-settlement, a Celery worker mid-deposit
and mid-payout. After a restart every request, deposit and payout is settled exactly once, no hold remains
(expired ones are released by the holds task on the worker) and the ledger check passes. Seeded: the
amounts and the moment of each kill come from SEED, so a failure can be replayed.
"""

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db.models import Sum

from accounts.services import account_roles_update
from billing.checks import ledger_check
from billing.models import Hold, Transaction
from billing.selectors import buyer_ledger_account
from billing.services import ledger_rollup
from conftest import fund
from infer.celery import app as celery_app
from usage.demo_node import DemoNode, DemoNodeConfig
from usage.models import UsageRecord
from usage.services import node_create
from usage.tests.conftest import ServerThread

from . import processes

pytestmark = pytest.mark.django_db(transaction=True)

SEED = 9
USD = 1_000_000_000
MODEL = "llama-3.1-8b-instruct"


@pytest.fixture
def logs(tmp_path):
    return tmp_path


@pytest.fixture
def started():
    """Every process a test starts, stopped (or already dead) at its end."""
    running = []
    yield running
    for process in running:
        process.stop()


def _ask(url: str, key: str, n: int, stream: bool) -> tuple[str, str | None]:
    """One request; ('ok', request id) only when the whole answer arrived, with its usage."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Question {n} about the rivers of Europe."}],
        "max_tokens": 48,
        "stream": stream,
    }
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30) as response:
            text = "".join(response.iter_text())
            request_id = response.headers.get("X-Request-Id")
            complete = response.status_code == 200 and ("[DONE]" in text if stream else '"usage"' in text)
            return ("ok" if complete else f"status {response.status_code}", request_id)
    except httpx.HTTPError as exc:
        return (type(exc).__name__, None)


def _settled_exactly_once(account, funding):
    ledger_rollup()
    records = UsageRecord.objects.filter(account=account)
    usage_keys = set(
        Transaction.objects.filter(kind=Transaction.Kind.USAGE, idempotency_key__startswith="usage:").values_list(
            "idempotency_key", flat=True
        )
    )
    assert usage_keys == {f"usage:{r.request_id}" for r in records if r.cost_nanos > 0}
    spent = records.aggregate(total=Sum("cost_nanos"))["total"] or 0
    ledger = buyer_ledger_account(account=account)
    assert (ledger.balance_nanos, ledger.held_nanos) == (funding - spent, 0)
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    report = ledger_check()
    assert report.ok, report.problems


def test_a_gateway_killed_mid_settlement_loses_no_request_and_leaves_no_hold(
    logs, started, alice_account, alice_key, charlie_account, settings
):
    rng = random.Random(SEED)
    funding = 50 * USD
    fund(alice_account, funding)
    node = ServerThread(DemoNode(DemoNodeConfig(tokens_per_second=300)))
    try:
        operator = account_roles_update(account=charlie_account, is_buyer=True, is_operator=True)
        node_create(account=operator, name="gpu", base_url=node.url, model_ids=[MODEL])
        env = processes.child_env(HOLD_TIMEOUT_SECONDS=3)
        gateway, url = processes.gateway(env, logs / "gateway.log")
        started.append(gateway)

        kill_after = rng.randint(6, 14)  # completed requests before the kill
        plan = [(n, rng.random() < 0.5) for n in range(48)]
        results, done = [], threading.Event()

        def one(item):
            outcome = _ask(url, alice_key.secret, *item)
            results.append(outcome)
            if sum(1 for status, _ in results if status == "ok") >= kill_after:
                done.set()
            return outcome

        with ThreadPoolExecutor(max_workers=12) as pool:
            futures = [pool.submit(one, item) for item in plan]
            assert done.wait(30), results
            gateway.kill()  # mid-flight: requests streaming, settlements queued or committing
            outcomes = [future.result() for future in futures]
        failed = [status for status, _ in outcomes if status != "ok"]
        assert failed, "the kill should have cut some requests off"

        # Restarted, it serves again.
        gateway, url = processes.gateway(env, logs / "gateway.log")
        started.append(gateway)
        after = [_ask(url, alice_key.secret, 100 + n, n % 2 == 0) for n in range(6)]
        assert [status for status, _ in after] == ["ok"] * 6

        # Every answered request is billed once; the ones cut off left holds that the beat's task releases.
        answered = {rid for status, rid in outcomes + after if status == "ok"}
        billed = set(map(str, UsageRecord.objects.filter(account=alice_account).values_list("request_id", flat=True)))
        assert answered <= billed
        assert Hold.objects.filter(released_at__isnull=True).exists(), "the dead requests' holds should be open"
        worker = processes.celery_worker(env, logs / "worker.log")
        started.append(worker)
        time.sleep(3.5)  # past HOLD_TIMEOUT_SECONDS of the gateway that died
        celery_app.send_task("billing.tasks.holds_expire")
        processes.wait_until(
            lambda: not Hold.objects.filter(released_at__isnull=True).exists(),
            timeout=60,
            what="the holds task to release the dead requests' holds",
        )
        _settled_exactly_once(alice_account, funding)
    finally:
        node.stop()
