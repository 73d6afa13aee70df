"""Fixtures for card payments: a fake Stripe on loopback and dj-stripe configured from test settings."""

import pytest
import stripe

from billing.card_services import card_checkout_start, stripe_setup_ensure, stripe_webhook_path

from . import stripe_fakes


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
