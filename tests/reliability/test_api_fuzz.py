"""Schemathesis against /api/schema/: every /api/ operation, generated input, authenticated by a key: no 500s."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from conftest import fund

USD = 1_000_000_000


# Loaded at collection (drf-spectacular builds the schema from code; no database needed).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a request must not close the connection holding the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def key_header(db, alice_account, alice_key):
    fund(alice_account, 20 * USD)
    return {"Authorization": f"Bearer {alice_key.secret}"}


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # the same examples every run, so a failure repeats
    suppress_health_check=list(HealthCheck),
)
def test_no_api_operation_answers_500_to_generated_input(case, key_header):
    response = case.call(headers=key_header)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
