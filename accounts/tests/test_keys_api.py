"""/api/keys: list, create (shown once), spend limits, revoke; roles; another tenant's key is a 404."""

import pytest

from accounts.models import APIKey

pytestmark = pytest.mark.django_db


def test_it_lists_the_accounts_keys_with_a_key(api, alice_key, charlie_key):
    response = api("get", "/api/keys", key=alice_key.secret)
    assert response.status_code == 200
    [row] = response.json()
    assert row["id"] == alice_key.public_id
    assert row["name"] == "alice key"
    assert row["prefix"] == alice_key.prefix
    assert row["created_by"] == "alice@example.com"
    assert row["status"] == "active"
    assert row["spend_limit"] is None
    assert "key" not in row and "secret_hash" not in row


def test_it_creates_a_key_for_a_signed_in_owner_and_shows_it_once(alice_client, alice_account):
    response = alice_client.post(
        "/api/keys",
        {"name": "deploy", "spend_limit": "12.50", "spend_limit_period": "daily"},
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith(f"infer_sk_{body['id']}_")
    assert body["spend_limit"] == "12.5"
    assert body["spend_limit_nanos"] == 12_500_000_000
    assert body["spend_limit_period"] == "daily"
    # The key works, and is never shown again.
    assert alice_client.get(f"/api/keys/{body['id']}").json().get("key") is None
    from django.test import Client

    assert Client().get("/api/balance", HTTP_AUTHORIZATION=f"Bearer {body['key']}").status_code == 200


@pytest.mark.parametrize(
    "data",
    [
        {"name": ""},
        {"name": "   "},
        {},
        {"name": "k", "spend_limit": "ten"},
        {"name": "k", "spend_limit": "-1", "spend_limit_period": "daily"},
        {"name": "k", "spend_limit": "0", "spend_limit_period": "daily"},
        {"name": "k", "spend_limit": "5"},  # no period
        {"name": "k", "spend_limit": "5", "spend_limit_period": "hourly"},
        {"name": "k", "spend_limit_nanos": "lots", "spend_limit_period": "daily"},
        {"name": "k", "spend_limit_nanos": -1, "spend_limit_period": "daily"},
        {"name": "k", "spend_limit": "5", "spend_limit_nanos": 5, "spend_limit_period": "daily"},
    ],
)
def test_it_refuses_bad_input_with_400_and_creates_nothing(alice_client, alice_account, data):
    response = alice_client.post("/api/keys", data, content_type="application/json")
    assert response.status_code == 400
    assert response.json()
    assert not APIKey.objects.filter(account=alice_account).exists()


def test_it_does_not_let_a_key_mint_keys(api, alice_key, alice_account):
    response = api("post", "/api/keys", key=alice_key.secret, data={"name": "child"}, content_type="application/json")
    assert response.status_code == 403
    assert APIKey.objects.filter(account=alice_account).count() == 1


def test_it_does_not_let_a_member_create_or_revoke_keys(bob_client, alice_key, alice_account):
    assert bob_client.post("/api/keys", {"name": "b"}, content_type="application/json").status_code == 403
    assert bob_client.post(f"/api/keys/{alice_key.public_id}/revoke").status_code == 403
    limit = {"spend_limit": "5", "spend_limit_period": "daily"}
    url = f"/api/keys/{alice_key.public_id}/spend-limit"
    assert bob_client.put(url, limit, content_type="application/json").status_code == 403
    assert bob_client.get("/api/keys").status_code == 200  # members may look
    alice_key.refresh_from_db()
    assert alice_key.revoked_at is None and alice_key.spend_limit_nanos is None


def test_it_sets_and_removes_a_spend_limit(alice_client, alice_key):
    url = f"/api/keys/{alice_key.public_id}/spend-limit"
    response = alice_client.put(url, {"spend_limit_nanos": 7, "spend_limit_period": "weekly"}, "application/json")
    assert response.status_code == 200
    assert response.json()["spend_limit_nanos"] == 7
    response = alice_client.put(url, {"spend_limit": None}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["spend_limit_nanos"] is None
    assert response.json()["spend_limit_period"] == ""


def test_it_refuses_a_bad_spend_limit_and_keeps_the_old_one(alice_client, alice_key):
    url = f"/api/keys/{alice_key.public_id}/spend-limit"
    alice_client.put(url, {"spend_limit": "3", "spend_limit_period": "daily"}, content_type="application/json")
    for bad in ({"spend_limit": "-3", "spend_limit_period": "daily"}, {"spend_limit": "3"}, {"spend_limit": "x"}):
        assert alice_client.put(url, bad, content_type="application/json").status_code == 400
    alice_key.refresh_from_db()
    assert (alice_key.spend_limit_nanos, alice_key.spend_limit_period) == (3_000_000_000, "daily")


def test_it_lets_a_key_revoke_itself_and_refuses_it_from_then_on(api, alice_key):
    response = api("post", f"/api/keys/{alice_key.public_id}/revoke", key=alice_key.secret)
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert api("get", "/api/keys", key=alice_key.secret).status_code == 401


def test_it_answers_404_for_another_accounts_key(api, alice_client, alice_key, charlie_key, charlie_client):
    for path in (f"/api/keys/{alice_key.public_id}", f"/api/keys/{alice_key.public_id}/revoke"):
        method = "get" if path.endswith(alice_key.public_id) else "post"
        assert api(method, path, key=charlie_key.secret).status_code == 404
        assert getattr(charlie_client, method)(path).status_code == 404
    limit = {"spend_limit": "1", "spend_limit_period": "daily"}
    url = f"/api/keys/{alice_key.public_id}/spend-limit"
    assert charlie_client.put(url, limit, content_type="application/json").status_code == 404
    assert [k["id"] for k in api("get", "/api/keys", key=charlie_key.secret).json()] == [charlie_key.public_id]
    alice_key.refresh_from_db()
    assert alice_key.revoked_at is None and alice_key.spend_limit_nanos is None
