"""A fake Stripe API on loopback for the real stripe client, and Stripe-signed webhook events.

Only what lies outside this machine is faked, at the HTTP boundary: the stripe library really sends
its form-encoded requests here. Event payloads follow Stripe's documented shapes (Event, Checkout
Session, Charge, Dispute) and are signed with Stripe's scheme: `t=<unix>,v1=HMAC-SHA256(secret, "t.body")`.
"""

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

API_VERSION = "2026-05-27.dahlia"
TEST_SECRET_KEY = "sk_test_infer0local0tests0only0000000000"
WEBHOOK_SECRET = "whsec_infer_local_tests_only"
WEBHOOK_UUID = "6f1d2c3b-4a59-4e8f-9b7a-0c1d2e3f4a5b"

_ids = itertools.count(1)


def stripe_id(prefix: str) -> str:
    return f"{prefix}_test_{next(_ids):06d}{int(time.time() * 1000) % 100000:05d}"


class FakeStripe:
    """Answers POST /v1/checkout/sessions like Stripe (idempotent by Idempotency-Key) and serves a
    stand-in hosted checkout page at /pay/<session>; records every request it gets."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        self.sessions: dict[str, dict] = {}
        self.by_idempotency_key: dict[str, str] = {}
        self.fail_with: int | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, content_type="application/json"):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_fake")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                fake.requests.append(("GET", self.path, {}))
                if self.path.startswith("/pay/"):
                    session = fake.sessions.get(self.path.split("/")[2].split("?")[0])
                    amount = f"${session['amount_total'] / 100:,.2f}" if session else "?"
                    return self._send(
                        200,
                        f"<!doctype html><title>Stripe Checkout (test)</title><h1>Pay INFER {amount}</h1>",
                        "text/html",
                    )
                return self._not_found()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                fake.requests.append(("POST", self.path, form))
                if fake.fail_with:
                    return self._send(
                        fake.fail_with, {"error": {"type": "api_error", "message": "Something went wrong"}}
                    )
                if self.path != "/v1/checkout/sessions":
                    return self._not_found()
                key = self.headers.get("Idempotency-Key")
                if key and key in fake.by_idempotency_key:
                    return self._send(200, fake.sessions[fake.by_idempotency_key[key]])
                session = fake.session_from_form(form, base=f"http://127.0.0.1:{self.server.server_port}")
                if key:
                    fake.by_idempotency_key[key] = session["id"]
                return self._send(200, session)

            def _not_found(self):
                self._send(404, {"error": {"type": "invalid_request_error", "message": f"No route {self.path}"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def session_from_form(self, form: dict, *, base: str) -> dict:
        session_id = stripe_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": form["line_items[0][price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "payment_intent": None,
            "success_url": form.get("success_url"),
            "cancel_url": form.get("cancel_url"),
            "url": f"{base}/pay/{session_id}",
            "livemode": False,
        }
        self.sessions[session_id] = session
        return session

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- Webhook events -----------------------------------------------------------------------------------


def event(event_type: str, obj: dict, *, event_id: str | None = None) -> dict:
    return {
        "id": event_id or stripe_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def paid_session(session: dict, *, payment_intent: str | None = None, payment_status: str = "paid") -> dict:
    """The session Stripe sends in checkout.session.completed once the buyer paid."""
    return {
        **session,
        "status": "complete",
        "payment_status": payment_status,
        "payment_intent": payment_intent or stripe_id("pi"),
    }


def charge(*, payment_intent: str, amount: int, amount_refunded: int = 0, charge_id: str | None = None) -> dict:
    return {
        "id": charge_id or stripe_id("ch"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "currency": "usd",
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": amount_refunded == amount,
        "status": "succeeded",
        "livemode": False,
    }


def dispute(*, dispute_id: str, charge_id: str, payment_intent: str, amount: int, status: str) -> dict:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "charge": charge_id,
        "currency": "usd",
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": status,
        "is_charge_refundable": False,
        "livemode": False,
    }


def signature(body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signed(evt: dict, **kwargs) -> tuple[bytes, str]:
    body = json.dumps(evt).encode()
    return body, signature(body, **kwargs)
