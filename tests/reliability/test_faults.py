"""Faults of the services around the gateway: its database connections killed under load, and Redis down.

PostgreSQL itself is not restarted: the server is shared with other engineers' test runs on this
machine. Killing every connection of the test database (pg_terminate_backend) is what a restart does
to the gateway's side: each connection breaks mid-query or mid-commit and must be opened again.
"""

import random
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from celery import Celery
from django.db import connection

from accounts.services import account_roles_update
from billing.alerts import alerts_email_sweep
from billing.models import Hold, Notification
from billing.services import holds_expire
from conftest import fund
from tests.servers import ServerThread
from usage.demo_node import DemoNode, DemoNodeConfig
from usage.models import UsageRecord
from usage.services import node_create

from . import processes
from .test_crash_safety import MODEL, SEED, USD, _ask, _settled_exactly_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_node(charlie_account):
    node = ServerThread(DemoNode(DemoNodeConfig(tokens_per_second=400)))
    operator = account_roles_update(account=charlie_account, is_buyer=True, is_operator=True)
    node_create(account=operator, name="gpu", base_url=node.url, model_ids=[MODEL])
    yield node
    node.stop()


@pytest.fixture
def started():
    running = []
    yield running
    for process in running:
        process.stop()


def _terminate_other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"]],
        )
        return cursor.fetchone()[0]


def _ask_raw(url, key, n, stream):
    """Like _ask, but keeps a failed answer's status and body to check its shape."""
    import httpx

    body = {"model": MODEL, "messages": [{"role": "user", "content": f"q{n}"}], "max_tokens": 24, "stream": stream}
    try:
        response = httpx.post(
            f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
    except httpx.HTTPError as exc:
        return type(exc).__name__, None, None
    return response.status_code, response.headers.get("X-Request-Id"), response.text


def test_killing_the_gateways_database_connections_under_load_fails_cleanly_and_recovers(
    tmp_path, started, demo_node, alice_account, alice_key
):
    rng = random.Random(SEED)
    funding = 50 * USD
    fund(alice_account, funding)
    env = processes.child_env(HOLD_TIMEOUT_SECONDS=2)
    gateway, url = processes.gateway(env, tmp_path / "gateway.log")
    started.append(gateway)

    plan = [(n, rng.random() < 0.5) for n in range(120)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(_ask_raw, url, alice_key.secret, n, stream) for n, stream in plan]
        killed = 0
        for _ in range(4):
            time.sleep(rng.uniform(0.2, 0.6))
            killed += _terminate_other_connections()
        outcomes = [future.result() for future in futures]
    assert killed > 0

    failed = []
    for status, rid, text in outcomes:
        if status == 200 and '"error"' not in text:
            continue
        # A clean failure: an OpenAI-style server error (no traceback, no HTML), never a dropped
        # connection; in a stream whose status line went out already, an error event ends it.
        failed.append(rid)
        assert isinstance(status, int), (status, text)
        if status == 200:
            event = next(line for line in text.splitlines() if '"error"' in line)
            text = event.removeprefix("data: ")
        else:
            assert status >= 500, (status, text)
        assert set(processes.json_error(text)) == {"message", "type", "param", "code"}, text
    ok = [rid for status, rid, text in outcomes if status == 200 and rid not in failed]
    assert ok, "requests before and between the kills succeed"

    # Afterwards every request succeeds again.
    after = [_ask(url, alice_key.secret, 1000 + n, n % 2 == 1) for n in range(8)]
    assert [status for status, _ in after] == ["ok"] * 8

    # Nothing half-written: each answered request billed once, failed ones not charged, holds expire.
    billed = {str(r): cost for r, cost in UsageRecord.objects.values_list("request_id", "cost_nanos")}
    assert set(ok) <= set(billed)
    for rid in failed:
        assert billed.get(rid, 0) == 0, rid  # no charge for a failed request
    time.sleep(2.5)
    holds_expire()  # the holds task's body (beat runs it every 30 s)
    _settled_exactly_once(alice_account, funding)


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of our own on a free port, so stopping it disturbs nobody else's tests."""
    port = processes.free_port()

    def start():
        process = subprocess.Popen(  # the machine's redis-server, loopback only, no persistence
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp_path,
        )
        processes.wait_until(lambda: processes.port_open(port), timeout=10, what="redis-server")
        return process

    server = {"process": start(), "url": f"redis://127.0.0.1:{port}/0", "start": start}
    yield server
    if server["process"].poll() is None:
        server["process"].kill()
        server["process"].wait()


def test_with_redis_down_the_gateway_keeps_billing_and_queued_emails_go_out_when_it_returns(
    tmp_path, started, demo_node, alice_account, alice_key, redis_server, smtp_server, settings
):
    funding = 5 * USD + 30_000  # just above the $5 email threshold: a few requests cross it
    fund(alice_account, funding)
    env = processes.child_env(
        REDIS_URL=redis_server["url"],
        CELERY_BROKER_URL=redis_server["url"],
        EMAIL_BACKEND=settings.EMAIL_BACKEND,
        EMAIL_HOST=settings.EMAIL_HOST,
        EMAIL_PORT=settings.EMAIL_PORT,
    )
    gateway, url = processes.gateway(env, tmp_path / "gateway.log")
    started.append(gateway)
    redis_server["process"].kill()
    redis_server["process"].wait()

    # Redis is gone: requests are answered and billed all the same (the ledger is PostgreSQL's).
    results = []
    while not Notification.objects.filter(account=alice_account).exists():
        results.append(_ask(url, alice_key.secret, len(results), False))
        assert results[-1][0] == "ok", results[-1]
        assert len(results) < 50, "the balance should have crossed $5 by now"
    assert UsageRecord.objects.filter(account=alice_account).count() == len(results)
    notification = Notification.objects.get(account=alice_account)
    assert notification.email_status == Notification.EmailStatus.PENDING  # its task could not be queued

    # Redis is back: the sweep (beat, every minute) queues the email again and a worker sends it.
    redis_server["process"] = redis_server["start"]()
    worker = processes.celery_worker(env, tmp_path / "worker.log")
    started.append(worker)
    producer = Celery(
        "sweep", broker=redis_server["url"], set_as_current=False
    )  # the app of the processes under test, not the suite's
    swept = alerts_email_sweep(older_than_seconds=0)
    assert swept == [notification.id]
    for notification_id in swept:
        producer.send_task("billing.tasks.alert_email_send", args=[notification_id])
    processes.wait_until(
        lambda: Notification.objects.get(id=notification.id).email_status == Notification.EmailStatus.SENT,
        timeout=60,
        what="the worker to send the queued email",
    )
    assert len(smtp_server.messages) == 1
    assert not Hold.objects.filter(released_at__isnull=True).exists()
    _settled_exactly_once(alice_account, funding)
