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
from tests.servers import ServerThread
from usage.demo_node import DemoNode, DemoNodeConfig
from usage.models import UsageRecord
from usage.services import node_create

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


@pytest.fixture
def tasks_to_the_broker():
    """Tasks queued from here on go to Redis and the worker, as in production (the suite runs them eagerly)."""
    yield lambda: celery_app.conf.update(task_always_eager=False)
    celery_app.conf.update(task_always_eager=True)


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
    logs, started, alice_account, alice_key, charlie_account, tasks_to_the_broker
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
            # Mid-flight: wait for a moment with a request holding funds (streams take ~160 ms), so the
            # kill always cuts off admitted requests, however slowly a loaded machine admits them.
            processes.wait_until(
                lambda: Hold.objects.filter(released_at__isnull=True).exists(),
                timeout=30,
                what="an open hold",
                interval=0.005,
            )
            gateway.kill()  # requests streaming, settlements queued or committing
            outcomes = [future.result() for future in futures]
        failed = [status for status, _ in outcomes if status != "ok"]
        assert failed, "the kill should have cut some requests off"
        assert Hold.objects.filter(released_at__isnull=True).exists(), "the dead requests' holds are open"

        # Restarted, it serves again.
        gateway, url = processes.gateway(env, logs / "gateway.log")
        started.append(gateway)
        after = [_ask(url, alice_key.secret, 100 + n, n % 2 == 0) for n in range(6)]
        assert [status for status, _ in after] == ["ok"] * 6

        # Every answered request is billed once; the ones cut off left holds that the beat's task releases.
        answered = {rid for status, rid in outcomes + after if status == "ok"}
        billed = set(map(str, UsageRecord.objects.filter(account=alice_account).values_list("request_id", flat=True)))
        assert answered <= billed
        worker = processes.celery_worker(env, logs / "worker.log")
        started.append(worker)
        time.sleep(3.5)  # past HOLD_TIMEOUT_SECONDS of the gateway that died
        tasks_to_the_broker()
        celery_app.send_task("billing.tasks.holds_expire")
        processes.wait_until(
            lambda: not Hold.objects.filter(released_at__isnull=True).exists(),
            timeout=60,
            what="the holds task to release the dead requests' holds",
        )
        _settled_exactly_once(alice_account, funding)
    finally:
        node.stop()


HARDHAT_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # hardhat's public test key #1


def test_a_celery_worker_killed_mid_deposits_and_payouts_credits_and_pays_each_exactly_once(
    logs, started, alice_account, charlie, charlie_account, finance_user, tasks_to_the_broker
):
    from django.core.cache import cache
    from eth_account import Account as EthAccount
    from web3 import HTTPProvider, Web3

    from accounts.models import User
    from accounts.services import account_create
    from billing.chains import testing
    from billing.chains.services import deposit_address_ensure
    from billing.models import ChainDeposit
    from payouts.models import Payout
    from payouts.services import payout_approve, payout_request
    from payouts.tests.conftest import code_now, earn, totp_for, unlocked_destination

    rng = random.Random(SEED)
    with testing.hardhat_node() as rpc_url:
        w3 = Web3(HTTPProvider(rpc_url))
        token = testing.deploy_token(w3)
        hot = w3.eth.accounts[1]
        assert EthAccount.from_key(HARDHAT_KEY_1).address == hot
        testing.mint(token, hot, 10_000 * 10**6)
        env = processes.child_env(
            CHAIN_ETHEREUM_RPC_URL=rpc_url,
            CHAIN_USDC_ETHEREUM=token.address,
            CHAIN_ETHEREUM_START_BLOCK=0,
            CHAIN_RPC_BACKOFF_MS=1,
            PAYOUT_HOT_WALLET_PRIVATE_KEY=HARDHAT_KEY_1,
        )

        # Twelve USDC deposits to three buyers' addresses.
        buyers = [alice_account] + [
            account_create(name=f"Buyer {i}", owner=User.objects.create_user(email=f"buyer{i}@crash.example"))
            for i in range(2)
        ]
        addresses = {b.id: deposit_address_ensure(account=b, network="ethereum").address for b in buyers}
        sender = w3.eth.accounts[7]
        testing.mint(token, sender, 10_000 * 10**6)
        expected = dict.fromkeys(addresses, 0)
        for _ in range(12):
            buyer = rng.choice(buyers)
            units = rng.randrange(5, 80) * 10**6 + rng.randrange(10**6)
            testing.transfer(token, addresses[buyer.id], units, sender=sender)
            expected[buyer.id] += units * 1000  # 1 USDC unit = 1,000 nano-dollars

        # Five wallet payouts of an operator, each to its own address, approved by finance.
        operator = account_roles_update(account=charlie_account, is_buyer=True, is_operator=True)
        earn(operator, 500 * USD)
        secret = totp_for(charlie)
        payouts = []
        for i in range(5):
            wallet = Web3.to_checksum_address("0x" + rng.randbytes(20).hex())
            destination = unlocked_destination(operator, charlie, address=wallet, label=f"wallet {i}")
            cache.clear()  # the same TOTP code again: allauth remembers used codes in the cache
            payout, _ = payout_request(
                account=operator,
                user=charlie,
                destination=destination,
                amount_nanos=(10 + rng.randrange(40)) * USD,
                totp_code=code_now(secret),
                idempotency_key=f"crash-{i}",
            )
            payouts.append(payout)

        worker = processes.celery_worker(env, logs / "worker.log")
        started.append(worker)
        tasks_to_the_broker()
        for payout in payouts:
            payout_approve(payout=payout, staff_user=finance_user)
        assert not Payout.objects.exclude(status=Payout.Status.APPROVED).exists()  # queued, not run here
        celery_app.send_task("billing.tasks.chain_scan", args=["ethereum"])

        def progress():
            credited = ChainDeposit.objects.filter(status=ChainDeposit.Status.CREDITED).count()
            moved = Payout.objects.exclude(status=Payout.Status.APPROVED).count()
            return credited + moved

        kill_at = rng.randint(1, 6)
        processes.wait_until(lambda: progress() >= kill_at, timeout=60, what="the worker to start", interval=0.005)
        worker.kill()
        assert progress() < 12 + 5, "the kill should land before all the work is done"

        worker = processes.celery_worker(env, logs / "worker.log")
        started.append(worker)

        def all_done():
            # What beat does every few seconds: scan the chain, confirm and resume payouts.
            w3.provider.make_request("evm_mine", [])
            celery_app.send_task("billing.tasks.chain_scan", args=["ethereum"])
            celery_app.send_task("payouts.tasks.payouts_confirm")
            credited = ChainDeposit.objects.filter(status=ChainDeposit.Status.CREDITED).count()
            return credited == 12 and Payout.objects.filter(status=Payout.Status.PAID).count() == 5

        processes.wait_until(all_done, timeout=120, what="every deposit credited and payout paid", interval=1.0)

        ledger_rollup()
        assert ChainDeposit.objects.count() == 12
        assert Transaction.objects.filter(kind="chain_deposit").count() == 12
        for buyer in buyers:
            assert buyer_ledger_account(account=buyer).balance_nanos == expected[buyer.id]
        for payout in Payout.objects.select_related("destination"):
            transfers = token.events.Transfer().get_logs(
                from_block=0, argument_filters={"to": Web3.to_checksum_address(payout.destination.address)}
            )
            assert [t["args"]["value"] for t in transfers] == [payout.amount_nanos // 1000]
        assert not Hold.objects.filter(released_at__isnull=True).exists()
        report = ledger_check()
        assert report.ok, report.problems
