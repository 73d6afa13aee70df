"""The tenant-isolation matrix, generated from the URL configuration: every object URL × method × attacker.

Every URL pattern with a parameter (an id, code, uuid, token) must be listed in OBJECT_URLS (with how to
fill it from Alice's objects and who owns it) or in NOT_TENANT_OBJECTS (with the reason it is no tenant's
object). A new object URL that is in neither fails `test_it_knows_how_to_fill_every_object_url`, so no
endpoint can appear unscoped without someone deciding how it is protected. Admin URLs are all staff-only.
"""

import re
import uuid
from datetime import date

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import Account, APIKey, Invitation, Membership
from accounts.services import account_roles_update, invitation_create
from billing.models import CatalogModel, Notification, Transaction
from billing.tests.conftest import checkout
from kyc import services as kyc_services
from kyc.models import KYCDocument
from kyc.tests.conftest import upload
from payouts.models import Payout, PayoutDestination
from payouts.services import payout_request
from payouts.tests.conftest import USD, code_now, earn, totp_for, unlocked_destination
from usage.models import Node, UsageRecord
from usage.services import node_create

pytestmark = pytest.mark.django_db

METHODS = ["get", "post", "put", "patch", "delete"]
DENIED = {403, 404, 405}  # 405: the method is refused before anything is looked up

# pattern → (who may see it, how to fill its parameters from Alice's objects)
#   "tenant": Alice's team's object; another tenant (buyer or operator) must get a 404.
#   "staff": only support staff; Alice herself (not staff) must be refused too.
OBJECT_URLS = {
    "api/keys/<str:public_id>": ("tenant", lambda o: {"public_id": o["key"].public_id}),
    "api/keys/<str:public_id>/spend-limit": ("tenant", lambda o: {"public_id": o["key"].public_id}),
    "api/keys/<str:public_id>/revoke": ("tenant", lambda o: {"public_id": o["key"].public_id}),
    "api/deposits/<str:deposit_id>": ("tenant", lambda o: {"deposit_id": o["deposit"].code}),
    "api/notifications/<int:notification_id>/read": ("tenant", lambda o: {"notification_id": o["notification"].id}),
    "api/payouts/<uuid:code>": ("tenant", lambda o: {"code": o["payout"].code}),
    "switch/<uuid:code>/": ("tenant", lambda o: {"code": o["account"].code}),
    "keys/<str:public_id>/revoke/": ("tenant", lambda o: {"public_id": o["key"].public_id}),
    "keys/<str:public_id>/limit/": ("tenant", lambda o: {"public_id": o["key"].public_id}),
    "team/members/<int:membership_id>/role/": ("tenant", lambda o: {"membership_id": o["membership"].id}),
    "team/members/<int:membership_id>/remove/": ("tenant", lambda o: {"membership_id": o["membership"].id}),
    "team/invitations/<int:invitation_id>/revoke/": ("tenant", lambda o: {"invitation_id": o["invitation"].id}),
    "payouts/destinations/<uuid:code>/remove/": ("tenant", lambda o: {"code": o["destination"].code}),
    "kyc/documents/<uuid:code>/": ("staff", lambda o: {"code": o["document"].code}),
    "nodes/<uuid:code>/": ("tenant", lambda o: {"code": o["node"].code}),
    "^nodes/(?P<code>[0-9a-f-]{36})/(?P<action>pause|resume|test)/$": (
        "tenant",
        lambda o: {"code": o["node"].code, "action": "pause"},
    ),
    "api/usage/<uuid:request_id>": ("tenant", lambda o: {"request_id": o["usage"].request_id}),
    "usage/<uuid:request_id>/": ("tenant", lambda o: {"request_id": o["usage"].request_id}),
}

# pattern → why it is no tenant's object (these are checked to exist, so the list cannot go stale).
NOT_TENANT_OBJECTS = {
    "accounts/^confirm-email/(?P<key>[-:\\w]+)/$": "allauth: the signed key in the email is the credential",
    "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": "allauth: the emailed token is the credential",
    "stripe/webhook/<uuid:uuid>/": "Stripe's webhook: only a signed event is accepted (tests/reliability/test_webhook_storm.py)",
    "invitations/<str:token>/": "the invitation's secret token is the credential; only its invitee can accept",
    "v1/^(?P<path>.*)$": "the gateway: no object ids, authenticated by key (fuzzed in test_gateway_fuzz.py)",
    "^static/(?P<path>.*)$": "public static files (DEBUG only)",
}


def object_url_patterns():
    """Every URL pattern with a parameter, as its full route string, outside /admin/."""

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern), entry

    return {
        route: entry
        for route, entry in walk(get_resolver().url_patterns)
        if not route.startswith("admin/") and ("<" in route or "(?P" in route)
    }


def test_it_knows_how_to_fill_every_object_url():
    routes = set(object_url_patterns())
    unknown = routes - set(OBJECT_URLS) - set(NOT_TENANT_OBJECTS)
    assert not unknown, f"object URLs the isolation matrix cannot fill (add them to OBJECT_URLS): {sorted(unknown)}"
    stale = (set(OBJECT_URLS) | set(NOT_TENANT_OBJECTS)) - routes - {"^static/(?P<path>.*)$"}  # DEBUG only
    assert not stale, f"listed URLs that no longer exist: {sorted(stale)}"


def _path(route: str, kwargs: dict) -> str:
    path = route
    if "(?P<" in path:  # a regex route: fill each named group, drop the anchors
        for name, value in kwargs.items():
            path = re.sub(rf"\(\?P<{name}>[^)]*\)", str(value), path)
        path = path.replace("^", "").replace("$", "")
    for name, value in kwargs.items():
        path = path.replace(f"<{name}>", str(value))
        for converter in ("str", "int", "uuid", "slug", "path"):
            path = path.replace(f"<{converter}:{name}>", str(value))
    assert "<" not in path, path
    return "/" + path


@pytest.fixture
def alices_objects(settings, tmp_path, stripe_on, alice, alice_account, bob, alice_key):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    operator = account_roles_update(account=alice_account, is_buyer=True, is_operator=True)
    earn(operator, 100 * USD)
    destination = unlocked_destination(operator, alice)
    cache.clear()  # allauth remembers used TOTP codes: a code from the previous test would be refused
    payout, _ = payout_request(
        account=operator,
        user=alice,
        destination=destination,
        amount_nanos=20 * USD,
        totp_code=code_now(totp_for(alice)),
        idempotency_key="matrix-payout",
    )
    submission = kyc_services.kyc_submission_update(
        account=operator,
        user=alice,
        legal_name="Alice Smith",
        date_of_birth=date(1990, 4, 2),
        country="DE",
        address="Hauptstraße 1, 10115 Berlin",
        identity_document=upload(),
        submit=True,
    )
    node = node_create(account=operator, name="alice-gpu", base_url="http://127.0.0.1:9", model_ids=["qwen3-8b"])
    usage = UsageRecord.objects.create(
        request_id=uuid.uuid4(),
        account=alice_account,
        model=CatalogModel.objects.get(model_id="qwen3-8b"),
        node=node,
        status=UsageRecord.Status.ERROR,
        error_code="node_unavailable",
    )
    return {
        "account": operator,
        "key": alice_key,
        "membership": Membership.objects.get(account=alice_account, user=bob),
        "invitation": invitation_create(
            account=alice_account, email="dave@example.com", role="member", invited_by=alice
        ),
        "deposit": checkout(alice_account, 25 * USD),
        "notification": Notification.objects.create(
            account=alice_account, kind="low_balance", threshold_nanos=5 * USD, balance_nanos=4 * USD
        ),
        "payout": payout,
        "destination": destination,
        "document": submission.documents.get(kind=KYCDocument.Kind.IDENTITY),
        "node": node,
        "usage": usage,
    }


def _secrets(objects) -> list[str]:
    """Strings only Alice's team may see: a body that contains one leaked foreign data."""
    return [
        objects["account"].name,
        str(objects["account"].code),
        objects["key"].public_id,
        objects["key"].name,
        "bob@example.com",
        "dave@example.com",
        str(objects["payout"].code),
        objects["destination"].address,
        "Alice Smith",
        "alice-gpu",
        str(objects["node"].code),
    ]


def _snapshot():
    models = [Account, APIKey, Membership, Invitation, Notification, Payout, PayoutDestination, KYCDocument, Node]
    # The attacker's own key records its use; that is the only write a refused request may make.
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models if model is not APIKey} | {
        "APIKey": list(APIKey.objects.order_by("pk").values("id", "revoked_at", "spend_limit_nanos", "name")),
        "transactions": Transaction.objects.count(),
    }


@pytest.fixture(params=["buyer", "operator"])
def attacker(request, charlie, charlie_account, charlie_key):
    """Charlie, a stranger: a buyer, or an operator looking at another operator's data."""
    account_roles_update(account=charlie_account, is_buyer=True, is_operator=request.param == "operator")
    session = Client()
    session.force_login(charlie)
    by_key = Client(HTTP_AUTHORIZATION=f"Bearer {charlie_key.secret}")
    return {"session": session, "key": by_key}


BODY = {"spend_limit": "1", "spend_limit_period": "daily", "role": "owner", "amount": "10"}


@pytest.mark.parametrize("route", sorted(OBJECT_URLS))
def test_another_tenant_gets_404_or_403_and_no_foreign_data(route, alices_objects, attacker, alice, alice_key):
    kind, fill = OBJECT_URLS[route]
    url = _path(route, fill(alices_objects))
    before = _snapshot()
    clients = {"session": attacker["session"]}
    if route.startswith("api/"):
        clients["key"] = attacker["key"]
    if kind == "staff":
        # The owner of the data is not staff either: staff views refuse her too.
        own = Client()
        own.force_login(alice)
        clients["owner, not staff"] = own
    for who, client in clients.items():
        for method in METHODS:
            response = getattr(client, method)(url, BODY, content_type="application/json")
            assert response.status_code in DENIED, (who, method, url, response.status_code)
            body = response.content.decode(errors="replace")
            leaked = [secret for secret in _secrets(alices_objects) if secret in body]
            assert not leaked, (who, method, url, leaked)
    assert _snapshot() == before


@pytest.mark.parametrize("route", sorted(r for r, (kind, _) in OBJECT_URLS.items() if kind == "tenant"))
def test_the_owner_reaches_each_url_so_the_404s_above_mean_something(route, alices_objects, alice, alice_key):
    url = _path(route, OBJECT_URLS[route][1](alices_objects))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {alice_key.secret}") if route.startswith("api/") else Client()
    client.force_login(alice)
    method = "get" if client.get(url).status_code != 405 else "post"
    assert getattr(client, method)(url).status_code != 404, url


def admin_object_urls():
    """Each registered model's change, delete and history page, for an object id that may not exist."""
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}"
        yield from (f"{base}/1/change/", f"{base}/1/delete/", f"{base}/1/history/", f"{base}/add/", f"{base}/")


def test_a_non_staff_user_gets_no_admin_page(client, alice, alice_account):
    """Alice (no staff flag) is sent to the admin's login for every admin URL and method, with no data."""
    client.force_login(alice)
    urls = list(admin_object_urls())
    assert len(urls) > 50
    for url in urls:
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), (method, url)
            assert not response.content
