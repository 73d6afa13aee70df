"""Fixtures for the reliability suite: the app's own test helpers, re-exported so pytest finds them here."""

from billing.tests.conftest import fake_stripe, stripe_on, webhook_path  # noqa: F401
from payouts.tests.conftest import finance_user  # noqa: F401
from tests.pgserver import postgres_server  # noqa: F401
