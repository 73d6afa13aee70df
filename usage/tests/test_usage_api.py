"""GET /api/usage and /api/usage/<request id>: the Account's requests, filtered, newest first, in cursor pages."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.services import api_key_create

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}


def ids(response):
    return [row["request_id"] for row in response.json()["results"]]


def test_it_lists_the_accounts_requests_newest_first_with_their_breakdown(
    client, alice_key, alice_account, parked_node, usage_record
):
    older = usage_record(alice_account, node=parked_node, api_key=alice_key, created_at=T0 - timedelta(minutes=2))
    newer = usage_record(
        alice_account,
        node=parked_node,
        api_key=alice_key,
        created_at=T0,
        input_tokens=1000,
        output_tokens=200,
        ttft_ms=85,
    )

    response = client.get("/api/usage", **auth(alice_key))

    assert response.status_code == 200
    assert ids(response) == [str(newer.request_id), str(older.request_id)]
    row = response.json()["results"][0]
    assert row["model"] == "llama-3.1-8b-instruct"
    assert row["node"] == "gpu-parked"
    assert row["node_id"] == str(parked_node.code)
    assert row["api_key"] == alice_key.public_id
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 200)
    assert (row["input_price_nanos"], row["output_price_nanos"]) == (100, 150)
    assert row["cost_nanos"] == 1000 * 100 + 200 * 150
    assert row["cost"] == "0.000130000"
    assert row["operator_share_nanos"] + row["platform_share_nanos"] == row["cost_nanos"]
    assert row["operator_share_nanos"] == 104_000
    assert (row["latency_ms"], row["ttft_ms"], row["status"]) == (120, 85, "success")


def test_it_never_shows_another_accounts_records(client, alice_key, charlie_account, usage_record):
    usage_record(charlie_account, created_at=T0)
    response = client.get("/api/usage", **auth(alice_key))
    assert response.json()["results"] == []


def test_it_answers_another_accounts_record_with_404(client, alice_key, charlie_account, alice_account, usage_record):
    theirs = usage_record(charlie_account, created_at=T0)
    mine = usage_record(alice_account, created_at=T0)

    assert client.get(f"/api/usage/{theirs.request_id}", **auth(alice_key)).status_code == 404
    response = client.get(f"/api/usage/{mine.request_id}", **auth(alice_key))
    assert response.status_code == 200
    assert response.json()["request_id"] == str(mine.request_id)


def test_it_serves_a_teammate_signed_in_to_the_portal(client, bob, alice_account, usage_record):
    record = usage_record(alice_account, created_at=T0)
    client.force_login(bob)
    assert ids(client.get("/api/usage")) == [str(record.request_id)]


def test_it_filters_by_time_model_status_node_and_key(
    client, alice, alice_key, alice_account, parked_node, usage_record
):
    other_key, _ = api_key_create(account=alice_account, name="batch jobs", created_by=alice)
    a = usage_record(alice_account, node=parked_node, api_key=alice_key, created_at=T0 - timedelta(hours=3))
    b = usage_record(
        alice_account, node=parked_node, api_key=other_key, created_at=T0 - timedelta(hours=2), model="qwen3-8b"
    )
    c = usage_record(
        alice_account,
        api_key=alice_key,
        created_at=T0 - timedelta(hours=1),
        status="error",
        input_tokens=0,
        output_tokens=0,
    )

    def get(**params):
        response = client.get("/api/usage", params, **auth(alice_key))
        assert response.status_code == 200, response.content
        return set(ids(response))

    assert get(start=(T0 - timedelta(hours=2)).isoformat()) == {str(b.request_id), str(c.request_id)}
    assert get(end=(T0 - timedelta(hours=2)).isoformat()) == {str(a.request_id)}
    assert get(start="2026-11-20T09:30:00Z", end="2026-11-20T10:30:00Z") == {str(b.request_id)}
    assert get(model="qwen3-8b") == {str(b.request_id)}
    assert get(status="error") == {str(c.request_id)}
    assert get(node=str(parked_node.code)) == {str(a.request_id), str(b.request_id)}
    assert get(api_key=other_key.public_id) == {str(b.request_id)}
    assert get(api_key=alice_key.public_id, status="success") == {str(a.request_id)}


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "exploded"}, "status"),
        ({"model": "no-such-model"}, "model"),
        ({"start": "yesterday"}, "start"),
        ({"node": "not-a-uuid"}, "node"),
        ({"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T09:00:00Z"}, "end"),
    ],
)
def test_it_refuses_a_bad_filter_with_400(client, alice_key, params, field):
    response = client.get("/api/usage", params, **auth(alice_key))
    assert response.status_code == 400
    assert field in response.json()


def test_it_refuses_another_accounts_key_as_a_filter_like_an_unknown_one(client, alice_key, charlie_key):
    response = client.get("/api/usage", {"api_key": charlie_key.public_id}, **auth(alice_key))
    assert response.status_code == 400
    assert "api_key" in response.json()


def test_it_pages_with_a_cursor_through_every_record_once(client, alice_key, alice_account, usage_record):
    # Three records share one timestamp: the cursor must neither repeat nor drop any of them.
    made = [usage_record(alice_account, created_at=T0 - timedelta(seconds=i // 3)) for i in range(12)]
    expected = [str(r.request_id) for r in sorted(made, key=lambda r: (r.created_at, r.id), reverse=True)]

    seen, url, pages = [], "/api/usage?limit=5", 0
    while url:
        response = client.get(url, **auth(alice_key))
        assert response.status_code == 200
        seen += ids(response)
        url = response.json()["next"]
        pages += 1

    assert pages == 3
    assert seen == expected


def test_it_refuses_a_forged_cursor_with_404(client, alice_key):
    response = client.get("/api/usage", {"cursor": "%%%not-a-cursor"}, **auth(alice_key))
    assert response.status_code == 404
    assert response.json()["detail"]


def test_it_refuses_anonymous_requests(client):
    assert client.get("/api/usage").status_code in (401, 403)


def test_it_is_described_in_the_openapi_schema(client):
    response = client.get("/api/schema/", {"format": "json"})
    paths = response.json()["paths"]
    names = {p["name"] for p in paths["/api/usage"]["get"]["parameters"]}
    assert {"start", "end", "model", "status", "node", "api_key", "cursor", "format"} <= names
    assert "/api/usage/summary" in paths
    assert "/api/usage/{request_id}" in paths
    assert client.get("/api/docs/").status_code == 200
