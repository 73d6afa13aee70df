"""API keys authenticate /api/: revoked, malformed and unknown keys get 401; one query; revocation is immediate."""

import pytest
import time_machine
from django.test import RequestFactory
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.authentication import APIKeyAuthentication, KeyPrincipal, api_key_from_header
from accounts.services import api_key_revoke
from conftest import fund

pytestmark = pytest.mark.django_db


def test_it_answers_a_valid_key_with_the_balance(api, alice_key, alice_account):
    fund(alice_account, 7_500_000_000)
    response = api("get", "/api/balance", key=alice_key.secret)
    assert response.status_code == 200
    assert response.json()["balance_nanos"] == 7_500_000_000


def test_it_refuses_a_revoked_key_with_401(api, alice_key):
    api_key_revoke(api_key=alice_key)
    response = api("get", "/api/balance", key=alice_key.secret)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_it_takes_revocation_into_account_on_the_very_next_request(api, alice_key):
    assert api("get", "/api/balance", key=alice_key.secret).status_code == 200
    api_key_revoke(api_key=alice_key)
    assert api("get", "/api/balance", key=alice_key.secret).status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer infer_sk_short_secret",
        "Bearer not-a-key-at-all",
        "Bearer infer_sk_abcdefghijkl_" + "x" * 31,  # secret one character short
        "Bearer infer_sk_abcdefghijkl_" + "é" * 32,  # not ASCII
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_it_refuses_a_malformed_key_with_401(alice_key, header, client):
    response = client.get("/api/balance", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["detail"]


def test_it_refuses_an_unknown_key_with_401(api, alice_key):
    unknown = "infer_sk_ZZZZZZZZZZZZ_" + "a" * 32
    assert api("get", "/api/balance", key=unknown).status_code == 401


def test_it_refuses_a_right_public_id_with_a_wrong_secret_with_401(api, alice_key):
    forged = f"infer_sk_{alice_key.public_id}_" + "b" * 32
    assert api("get", "/api/balance", key=forged).status_code == 401


def test_it_refuses_a_request_without_a_key_or_session(client, alice_key):
    assert client.get("/api/balance").status_code in (401, 403)


def _request(key):
    return Request(RequestFactory().get("/api/balance", HTTP_AUTHORIZATION=f"Bearer {key.secret}"))


def test_it_looks_a_key_up_with_one_database_query(alice_key, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        key = api_key_from_header(f"Bearer {alice_key.secret}")
        assert key.account.name == "Alice's team"  # the Account came with the key
    assert key.id == alice_key.id


def test_it_authenticates_a_request_with_one_query_once_the_key_is_in_use(alice_key, django_assert_max_num_queries):
    APIKeyAuthentication().authenticate(_request(alice_key))  # first use records last_used_at
    alice_key.refresh_from_db()
    assert alice_key.last_used_at is not None
    with django_assert_max_num_queries(1):
        principal, key = APIKeyAuthentication().authenticate(_request(alice_key))
        assert principal.account.name == "Alice's team"
    assert isinstance(principal, KeyPrincipal)
    assert key.id == alice_key.id


def test_it_records_use_at_most_once_a_minute(alice_key, django_assert_max_num_queries):
    with time_machine.travel("2026-01-01 12:00:00Z", tick=False):
        APIKeyAuthentication().authenticate(_request(alice_key))
    with time_machine.travel("2026-01-01 12:00:59Z", tick=False), django_assert_max_num_queries(1):
        APIKeyAuthentication().authenticate(_request(alice_key))
    with time_machine.travel("2026-01-01 12:01:01Z", tick=False):
        APIKeyAuthentication().authenticate(_request(alice_key))
    alice_key.refresh_from_db()
    assert alice_key.last_used_at.isoformat() == "2026-01-01T12:01:01+00:00"


def test_it_costs_one_query_to_refuse_a_revoked_key(alice_key, django_assert_max_num_queries):
    api_key_revoke(api_key=alice_key)
    with django_assert_max_num_queries(1):
        with pytest.raises(AuthenticationFailed, match="revoked"):
            APIKeyAuthentication().authenticate(_request(alice_key))


def test_it_acts_for_the_keys_account_only(api, alice_key, charlie_key, alice_account, charlie_account):
    fund(alice_account, 1_000_000_000)
    fund(charlie_account, 2_000_000_000)
    assert api("get", "/api/balance", key=alice_key.secret).json()["balance_nanos"] == 1_000_000_000
    assert api("get", "/api/balance", key=charlie_key.secret).json()["balance_nanos"] == 2_000_000_000


def test_it_refuses_keys_of_a_suspended_account(api, alice_key, alice_account):
    alice_account.status = alice_account.Status.SUSPENDED
    alice_account.save(update_fields=["status"])
    assert api("get", "/api/balance", key=alice_key.secret).status_code == 403
