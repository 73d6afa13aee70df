"""Shared fixtures: three named users — alice (owner), bob (her teammate), charlie (a stranger)."""

import pytest

from accounts.models import Membership, User
from accounts.services import account_create, api_key_create
from billing.models import Transaction
from billing.selectors import buyer_ledger_account
from billing.services import system_ledger_account_id, transaction_post


def _user(email):
    return User.objects.create_user(email=email, password="correct horse battery staple")


@pytest.fixture
def alice(db):
    return _user("alice@example.com")


@pytest.fixture
def bob(db):
    return _user("bob@example.com")


@pytest.fixture
def charlie(db):
    return _user("charlie@example.com")


@pytest.fixture
def alice_account(alice, bob):
    account = account_create(name="Alice's team", owner=alice, is_buyer=True, is_operator=False)
    Membership.objects.create(account=account, user=bob, role=Membership.Role.MEMBER)
    return account


@pytest.fixture
def charlie_account(charlie):
    return account_create(name="Charlie's team", owner=charlie, is_buyer=True)


@pytest.fixture
def alice_key(alice_account, alice):
    key, secret = api_key_create(account=alice_account, name="alice key", created_by=alice)
    key.secret = secret
    return key


@pytest.fixture
def charlie_key(charlie_account, charlie):
    key, secret = api_key_create(account=charlie_account, name="charlie key", created_by=charlie)
    key.secret = secret
    return key


def fund(account, nanos, *, key=None):
    """Credit a buyer's balance through the ledger (as a manual adjustment)."""
    ledger = buyer_ledger_account(account=account)
    return transaction_post(
        idempotency_key=key or f"test-fund:{account.id}:{nanos}:{Transaction.objects.count()}",
        kind=Transaction.Kind.ADJUSTMENT,
        legs=[(ledger.id, nanos), (system_ledger_account_id("adjustments"), -nanos)],
    )


@pytest.fixture
def funded(alice_account):
    fund(alice_account, 10_000_000_000)
    return alice_account


@pytest.fixture(autouse=True)
def _reset_ledger_caches():
    """The per-process caches of ledger account ids must not outlive a test's database."""
    from billing import services

    services._deferred_cache.clear()
    services._system_ids.clear()
    yield
    services._deferred_cache.clear()
    services._system_ids.clear()


# The browser (headless Chromium through Playwright) for any test that asks for `page`.
from tests.browser import _playwright, chromium, page  # noqa: E402, F401
from tests.servers import asgi_server  # noqa: E402, F401


@pytest.fixture(scope="session", autouse=True)
def _flush_only_tables_with_rows():
    """Transactional tests end with a flush that TRUNCATEs every table (dj-stripe alone brings dozens),
    which costs seconds per test. Empty only the tables that hold rows, with DELETE and triggers off
    for the flush (the ledger's append-only triggers and the FK checks): the same clean database in
    milliseconds. Test-only: production never flushes."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush
    # Reference data loaded by data migrations (the price tiers and model catalog): no test writes it
    # in a transactional test, and a flush would otherwise leave later tests without a catalog.
    keep = {"billing_tier", "billing_catalogmodel"}

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if not tables:
            return []
        probes = " UNION ALL ".join(f"(SELECT {i} FROM {self.quote_name(t)} LIMIT 1)" for i, t in enumerate(tables))
        with self.connection.cursor() as cursor:
            cursor.execute(probes)
            filled = [tables[i] for (i,) in cursor.fetchall() if tables[i] not in keep]
        return [
            "SET session_replication_role = replica;",
            *(f"DELETE FROM {self.quote_name(table)};" for table in filled),
            "SET session_replication_role = DEFAULT;",
        ]

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original


@pytest.fixture(scope="session", autouse=True)
def _catalog_loaded(django_db_setup, django_db_blocker):
    """The model catalog comes from a data migration; make sure a reused test database still has it."""
    import importlib

    from django.apps import apps as django_apps
    from django.db import connection

    from billing.models import CatalogModel

    if not connection.settings_dict["NAME"].startswith("test_"):
        return  # no test of this run uses the database, so pytest-django set none up
    with django_db_blocker.unblock():
        if not CatalogModel.objects.exists():
            importlib.import_module("billing.migrations.0003_catalog").load(django_apps, None)


@pytest.fixture
def payout_chain(settings):
    """A local EVM chain (eth-tester) with the test USDC, a funded hot wallet, and payouts pointed at it."""
    from billing.chains.testing import deploy_token, eth_tester_web3, mint
    from payouts import evm

    w3 = eth_tester_web3()
    token = deploy_token(w3)
    settings.PAYOUT_HOT_WALLET_PRIVATE_KEY = w3.provider.ethereum_tester.backend.account_keys[1].to_hex()
    settings.PAYOUT_EVM_NETWORKS = {"ethereum": {"rpc_url": "", "usdc": token.address}}
    evm.clients["ethereum"] = w3
    mint(token, w3.eth.accounts[1], 1000 * 10**6)
    yield token
    evm.clients.clear()


from tests.smtp import smtp_server  # noqa: E402, F401
