"""The group committer when the database drops its connection: the batch runs again on a new one."""

import pytest
from django.db import OperationalError, connection

from billing.batching import GroupCommitter

pytestmark = pytest.mark.django_db(transaction=True)


def _committer(statements, **options):
    """A committer whose n-th batch attempt runs statements[n] on its connection, then doubles each item."""
    attempts = []

    def apply(items):
        attempts.append(len(items))
        with connection.cursor() as cursor:
            cursor.execute(statements[min(len(attempts), len(statements)) - 1])
        return [item * 2 for item in items]

    return GroupCommitter(apply, name="test", **options).start(), attempts


def test_it_runs_a_batch_again_when_its_connection_was_lost():
    # The server ends the committer's own session, as a restart does to every session.
    committer, attempts = _committer(["SELECT pg_terminate_backend(pg_backend_pid())", "SELECT 1"])
    try:
        assert committer.submit(21).result(timeout=30) == 42
    finally:
        committer.stop()
    assert attempts == [1, 1]


def test_it_fails_a_batch_at_once_when_a_statement_fails_on_a_live_connection():
    committer, attempts = _committer(["SET statement_timeout = 1; SELECT pg_sleep(1)", "SELECT 1"])
    try:
        with pytest.raises(OperationalError, match="statement timeout"):
            committer.submit(21).result(timeout=30)
    finally:
        committer.stop()
    assert attempts == [1]


def test_it_fails_a_batch_once_the_database_has_been_away_longer_than_allowed():
    committer, attempts = _committer(["SELECT pg_terminate_backend(pg_backend_pid())", "SELECT 1"], reconnect_seconds=0)
    try:
        with pytest.raises(OperationalError):
            committer.submit(21).result(timeout=30)
        assert committer.submit(4).result(timeout=30) == 8  # the next batch, on a new connection
    finally:
        committer.stop()
    assert attempts == [1, 1]
