"""`python manage.py seed_demo [--json]`: an idempotent demo: a funded buyer with an API key, an
operator with a node, and a staff user. Prints their logins."""

import hashlib
import hmac
import json
import string

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import keys
from accounts.models import Account, APIKey, Membership, User
from accounts.services import account_create
from billing.models import Transaction
from billing.selectors import buyer_ledger_account
from billing.services import system_ledger_account_id, transaction_post

DEMO_PASSWORD = "demo-password-123"
BUYER_EMAIL = "buyer@infer.local"
OPERATOR_EMAIL = "operator@infer.local"
STAFF_EMAIL = "staff@infer.local"
DEMO_FUNDING_NANOS = 25_000_000_000
DEMO_KEY_PUBLIC_ID = "demo0buyer00"


def _demo_key_secret() -> str:
    """Stable for one installation (derived from SECRET_KEY), so re-running prints the same key."""
    digest = hmac.new(settings.SECRET_KEY.encode(), b"infer-demo-api-key", hashlib.sha256).digest()
    alphabet = string.ascii_letters + string.digits
    return "".join(alphabet[b % len(alphabet)] for b in digest)[: keys.SECRET_LENGTH]


def _user(email: str, *, staff: bool = False) -> User:
    from allauth.account.models import EmailAddress

    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=DEMO_PASSWORD, is_staff=staff, is_superuser=staff)
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


def _account(user: User, name: str, *, buyer: bool, operator: bool) -> Account:
    membership = Membership.objects.filter(user=user, role=Membership.Role.OWNER).select_related("account").first()
    if membership:
        return membership.account
    return account_create(name=name, owner=user, is_buyer=buyer, is_operator=operator)


class Command(BaseCommand):
    help = "Create (or find) the demo buyer, operator and staff user, and print their logins."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the credentials as JSON")

    @transaction.atomic
    def handle(self, *args, **options):
        buyer = _user(BUYER_EMAIL)
        buyer_account = _account(buyer, "Demo Buyer", buyer=True, operator=False)
        ledger = buyer_ledger_account(account=buyer_account)
        transaction_post(
            idempotency_key=f"seed:demo-funding:{buyer_account.code}",
            kind=Transaction.Kind.ADJUSTMENT,
            legs=[(ledger.id, DEMO_FUNDING_NANOS), (system_ledger_account_id("adjustments"), -DEMO_FUNDING_NANOS)],
            memo="Demo credit",
        )
        secret = _demo_key_secret()
        APIKey.objects.get_or_create(
            public_id=DEMO_KEY_PUBLIC_ID,
            defaults=dict(
                account=buyer_account, name="Demo key", created_by=buyer, secret_hash=keys.hash_secret(secret)
            ),
        )
        api_key = f"{keys.PREFIX}{DEMO_KEY_PUBLIC_ID}_{secret}"

        operator = _user(OPERATOR_EMAIL)
        operator_account = _account(operator, "Demo Operator", buyer=False, operator=True)
        node = None
        try:
            from usage.services import demo_node_ensure
        except ImportError:
            demo_node_ensure = None
        if demo_node_ensure is not None:
            node = demo_node_ensure(account=operator_account, base_url=settings.DEMO_NODE_URL)

        _user(STAFF_EMAIL, staff=True)

        data = {
            "site_url": settings.SITE_URL,
            "password": DEMO_PASSWORD,
            "buyer": {"email": BUYER_EMAIL, "account": str(buyer_account.code), "api_key": api_key},
            "operator": {
                "email": OPERATOR_EMAIL,
                "account": str(operator_account.code),
                "node": str(node.code) if node is not None else None,
            },
            "staff": {"email": STAFF_EMAIL, "admin_url": f"{settings.SITE_URL}/admin/"},
        }
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(
            f"""
INFER demo ready at {settings.SITE_URL}/  (password for every demo login: {DEMO_PASSWORD})
  Buyer     {BUYER_EMAIL}   balance funded, API key:
            {api_key}
  Operator  {OPERATOR_EMAIL}
  Staff     {STAFF_EMAIL}   (Django admin at {settings.SITE_URL}/admin/)
"""
        )
