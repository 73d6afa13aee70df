"""Fixtures for the accounts tests: signed-in portal clients for alice, bob and charlie."""

import pytest
from django.test import Client


def _client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice, alice_account):
    return _client_for(alice)


@pytest.fixture
def bob_client(bob, alice_account):
    return _client_for(bob)


@pytest.fixture
def charlie_client(charlie, charlie_account):
    return _client_for(charlie)


@pytest.fixture
def api():
    """A bare client for /api/ calls with an API key."""

    def call(method, path, *, key, **kwargs):
        return getattr(Client(), method)(path, HTTP_AUTHORIZATION=f"Bearer {key}", **kwargs)

    return call


@pytest.fixture(autouse=True)
def _fresh_cache():
    """allauth's rate limits live in the cache (Redis): one test's sign-up must not throttle the next."""
    from django.core.cache import cache

    cache.clear()
    yield
