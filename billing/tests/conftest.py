"""Billing test fixtures: both ledger writers, a real SMTP server on loopback, local EVM chains
(eth-tester, hardhat) with TestUSDC and fast RPC retries, and for card payments a fake Stripe on
loopback with dj-stripe configured from test settings."""

import pytest
import stripe
from web3 import Web3
from web3.providers.rpc import HTTPProvider

from billing import services
from billing.card_services import card_checkout_start, stripe_setup_ensure, stripe_webhook_path
from billing.chains import testing

from . import stripe_fakes


@pytest.fixture(params=["postgresql", "portable"])
def ledger_writer(request, monkeypatch):
    """Run a test against both ledger writers: PostgreSQL's fast path and the portable ORM one."""
    monkeypatch.setattr(services, "FAST_PATH", request.param == "postgresql")
    return request.param


@pytest.fixture
def chain_settings(settings):
    """Retries without long sleeps, and scans from block 0 of a fresh local chain."""
    settings.CHAIN_RPC_BACKOFF_MS = 1
    settings.CHAIN_RPC_ATTEMPTS = 4
    settings.CHAIN_ETHEREUM_START_BLOCK = 0
    settings.CHAIN_BASE_START_BLOCK = 0
    return settings


@pytest.fixture
def chain(chain_settings):
    """eth-tester in process with the real-USDC stand-in deployed and allow-listed for Ethereum."""
    w3 = testing.eth_tester_web3()
    usdc = testing.deploy_token(w3)
    chain_settings.CHAIN_USDC_ETHEREUM = usdc.address
    w3.usdc = usdc
    return w3


@pytest.fixture
def hardhat(chain_settings):
    """A real `hardhat node` on a free loopback port, configured as Ethereum's RPC URL."""
    with testing.hardhat_node() as url:
        chain_settings.CHAIN_ETHEREUM_RPC_URL = url
        yield Web3(HTTPProvider(url))


@pytest.fixture
def fake_stripe():
    fake = stripe_fakes.FakeStripe()
    yield fake
    fake.close()


@pytest.fixture
def stripe_on(settings, fake_stripe, monkeypatch, db):
    """Card payments configured as in production, with Stripe's API at the fake. dj-stripe's own client
    (the global api_base) points there too, so a fetch it made while processing a webhook would show up
    in `fake_stripe.requests`."""
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_TEST_SECRET_KEY = stripe_fakes.TEST_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = stripe_fakes.WEBHOOK_SECRET
    settings.STRIPE_WEBHOOK_UUID = stripe_fakes.WEBHOOK_UUID
    settings.STRIPE_API_BASE = fake_stripe.url
    monkeypatch.setattr(stripe, "api_base", fake_stripe.url)
    stripe_setup_ensure()
    return fake_stripe


@pytest.fixture
def webhook_path(stripe_on):
    return stripe_webhook_path()


def checkout(account, amount_nanos, *, user=None):
    """Start a card payment the way the Add funds form does; returns it with the fake session."""
    return card_checkout_start(
        account=account, amount_nanos=amount_nanos, user=user, return_url="http://testserver/funds/"
    )
