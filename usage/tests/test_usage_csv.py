"""GET /api/usage?format=csv: every matching record of the Account as a streamed CSV download."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from usage import api

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}


def read_csv(response):
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_it_streams_every_matching_record_across_batches(
    client, alice_key, alice_account, parked_node, usage_record, monkeypatch
):
    monkeypatch.setattr(api, "CSV_BATCH", 4)  # several keyset batches, some records sharing a timestamp
    made = [
        usage_record(
            alice_account,
            node=parked_node,
            api_key=alice_key,
            created_at=T0 - timedelta(seconds=i // 2),
            output_tokens=i,
        )
        for i in range(11)
    ]
    usage_record(alice_account, node=parked_node, created_at=T0, status="error", input_tokens=0, output_tokens=0)

    response = client.get("/api/usage", {"format": "csv", "status": "success"}, **auth(alice_key))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="infer-usage-')
    rows = read_csv(response)
    expected = sorted(made, key=lambda r: (r.created_at, r.id), reverse=True)
    assert [row["request_id"] for row in rows] == [str(r.request_id) for r in expected]
    first = rows[0]
    record = expected[0]
    assert first["model"] == "llama-3.1-8b-instruct"
    assert first["node"] == "gpu-parked"
    assert first["api_key"] == alice_key.public_id
    assert int(first["cost_nanos"]) == record.cost_nanos
    assert first["cost"] == f"0.{record.cost_nanos:09d}"
    assert int(first["operator_share_nanos"]) + int(first["platform_share_nanos"]) == record.cost_nanos
    assert sum(int(row["cost_nanos"]) for row in rows) == sum(r.cost_nanos for r in made)


def test_it_sends_only_the_header_when_nothing_matches(client, alice_key):
    rows = read_csv(client.get("/api/usage", {"format": "csv"}, **auth(alice_key)))
    assert rows == []


def test_it_never_puts_another_accounts_records_in_the_csv(
    client, alice_key, alice_account, charlie_account, usage_record
):
    mine = usage_record(alice_account, created_at=T0)
    usage_record(charlie_account, created_at=T0)
    rows = read_csv(client.get("/api/usage", {"format": "csv"}, **auth(alice_key)))
    assert [row["request_id"] for row in rows] == [str(mine.request_id)]


def test_it_answers_another_accounts_record_with_404(client, alice_key, charlie_account, usage_record):
    theirs = usage_record(charlie_account, created_at=T0)
    assert client.get(f"/api/usage/{theirs.request_id}", **auth(alice_key)).status_code == 404


def test_it_refuses_a_bad_filter_with_400_and_no_file(client, alice_key):
    response = client.get("/api/usage", {"format": "csv", "status": "exploded"}, **auth(alice_key))
    assert response.status_code == 400
    assert not response.streaming
