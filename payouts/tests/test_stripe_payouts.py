"""Bank payouts through Stripe Connect, against a Stripe stand-in on loopback (the HTTP boundary)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from billing.selectors import operator_ledger_account
from billing.services import ledger_rollup
from payouts import services, tasks

from .conftest import USD, assert_ledger_ok, code_now, unlocked_destination

pytestmark = pytest.mark.django_db


class FakeStripe(BaseHTTPRequestHandler):
    """Answers POST /v1/transfers as Stripe documents it, honouring Idempotency-Key like Stripe does."""

    transfers: dict  # idempotency key -> transfer
    requests: list
    refuse: bool = False

    def do_POST(self):
        body = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.requests.append({"path": self.path, "body": body, "key": self.headers.get("Idempotency-Key")})
        if self.refuse:
            error = {
                "error": {"type": "invalid_request_error", "message": "No such destination: 'acct_1Nv0FGQ9RKHgCVdK'"}
            }
            return self._answer(400, error)
        key = self.headers.get("Idempotency-Key")
        if key not in self.transfers:
            self.transfers[key] = {
                "id": f"tr_{len(self.transfers) + 1:04d}",
                "object": "transfer",
                "amount": int(body["amount"][0]),
                "currency": body["currency"][0],
                "destination": body["destination"][0],
            }
        return self._answer(200, self.transfers[key])

    def _answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stripe_api(settings):
    handler = type("Handler", (FakeStripe,), {"transfers": {}, "requests": [], "refuse": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_TEST_SECRET_KEY = "sk_test_payouts"
    settings.PAYOUT_STRIPE_API_BASE = f"http://127.0.0.1:{server.server_address[1]}"
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def connect(operator, alice):
    return unlocked_destination(operator, alice, kind="stripe_connect", stripe_account_id="acct_1Nv0FGQ9RKHgCVdK")


def approved(operator, alice, secret, destination, finance_user):
    payout, _ = services.payout_request(
        account=operator,
        user=alice,
        destination=destination,
        amount_nanos=42_50 * USD // 100,
        totp_code=code_now(secret),
        idempotency_key="k",
    )
    return services.payout_approve(payout=payout, staff_user=finance_user)


def test_it_transfers_to_the_connected_account_once(stripe_api, operator, alice, alice_totp, connect, finance_user):
    payout = approved(operator, alice, alice_totp, connect, finance_user)
    tasks.payout_process(payout.id)
    tasks.payout_process(payout.id)  # a redelivered task: the payout is paid, nothing is sent again

    payout.refresh_from_db()
    assert payout.status == "paid"
    assert payout.external_reference == "tr_0001"
    assert len(stripe_api.requests) == 1
    sent = stripe_api.requests[0]
    assert sent["path"] == "/v1/transfers"
    assert sent["key"] == f"payout:{payout.id}:transfer"
    assert sent["body"]["amount"] == ["4250"]
    assert sent["body"]["destination"] == ["acct_1Nv0FGQ9RKHgCVdK"]
    ledger_rollup()
    assert operator_ledger_account(account=operator).balance_nanos == 100 * USD - 42_50 * USD // 100
    assert_ledger_ok()


def test_it_fails_with_stripes_reason_and_releases_the_hold(
    stripe_api, operator, alice, alice_totp, connect, finance_user
):
    stripe_api.refuse = True
    payout = approved(operator, alice, alice_totp, connect, finance_user)
    tasks.payout_process(payout.id)

    payout.refresh_from_db()
    assert payout.status == "failed"
    assert payout.reason == "Stripe refused the transfer: No such destination: 'acct_1Nv0FGQ9RKHgCVdK'"
    assert operator_ledger_account(account=operator).held_nanos == 0
    assert_ledger_ok()
