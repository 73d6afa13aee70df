"""Billing test fixtures."""

import pytest

from billing import services


@pytest.fixture(params=["postgresql", "portable"])
def ledger_writer(request, monkeypatch):
    """Run a test against both ledger writers: PostgreSQL's fast path and the portable ORM one."""
    monkeypatch.setattr(services, "FAST_PATH", request.param == "postgresql")
    return request.param
