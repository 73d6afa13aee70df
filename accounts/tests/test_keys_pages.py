"""The API keys pages: list, create (shown once), revoke with confirmation, spend limits; roles and tenancy."""

import pytest

from accounts.models import APIKey
from accounts.services import api_key_create

pytestmark = pytest.mark.django_db


def test_it_lists_the_accounts_keys_with_their_details(alice_client, alice_key, alice):
    alice_key.spend_limit_nanos, alice_key.spend_limit_period = 25_000_000_000, "monthly"
    alice_key.save()
    page = alice_client.get("/keys/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "alice key" in html
    assert f"{alice_key.prefix}_…" in html
    assert alice.email in html
    assert "Never" in html  # last used
    assert "Active" in html
    assert "$25.00 per month" in html


def test_it_shows_a_new_key_once_and_stores_only_its_hash(alice_client, alice_account):
    page = alice_client.post("/keys/", {"name": "  ci runner  ", "spend_limit": "", "spend_limit_period": "monthly"})
    assert page.status_code == 200
    full_key = page.context["full_key"]
    assert full_key.startswith("infer_sk_")
    assert full_key in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    key = APIKey.objects.get(account=alice_account)
    assert key.name == "ci runner"
    assert key.spend_limit_nanos is None and key.spend_limit_period == ""
    # Never again: the list shows only the prefix.
    listing = alice_client.get("/keys/").content.decode()
    assert full_key not in listing
    assert key.prefix in listing


def test_it_creates_a_key_with_a_spend_limit(alice_client, alice_account):
    page = alice_client.post("/keys/", {"name": "capped", "spend_limit": "$1,250.50", "spend_limit_period": "weekly"})
    assert page.status_code == 200
    key = APIKey.objects.get(account=alice_account)
    assert key.spend_limit_nanos == 1_250_500_000_000
    assert key.spend_limit_period == "weekly"
    assert key.period_started_at is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "spend_limit": ""}, "Give the key a name"),
        ({"name": "   ", "spend_limit": ""}, "Give the key a name"),
        ({"name": "x" * 101, "spend_limit": ""}, "at most 100 characters"),
        ({"name": "k", "spend_limit": "abc"}, "Enter an amount in dollars"),
        ({"name": "k", "spend_limit": "-5"}, "more than $0"),
        ({"name": "k", "spend_limit": "0"}, "more than $0"),
        ({"name": "k", "spend_limit": "0.0000000001"}, "finer than INFER can charge"),
        ({"name": "k", "spend_limit": "1e400"}, "at most $1,000,000,000"),
        ({"name": "k", "spend_limit": "5", "spend_limit_period": "yearly"}, "Select a valid choice"),
        ({"name": "k", "spend_limit": "NaN"}, "Enter an amount in dollars"),
    ],
)
def test_it_refuses_bad_input_with_a_clear_error_and_creates_nothing(alice_client, alice_account, data, message):
    page = alice_client.post("/keys/", {"spend_limit_period": "monthly", **data})
    assert page.status_code == 400
    assert message in page.content.decode()
    assert not APIKey.objects.filter(account=alice_account).exists()


def test_it_revokes_a_key_after_confirmation(alice_client, alice_key):
    confirm = alice_client.get(f"/keys/{alice_key.public_id}/revoke/")
    assert confirm.status_code == 200
    assert "stops working at once" in confirm.content.decode()
    alice_key.refresh_from_db()
    assert alice_key.revoked_at is None  # looking at the confirmation changes nothing
    response = alice_client.post(f"/keys/{alice_key.public_id}/revoke/")
    assert response.status_code == 302
    alice_key.refresh_from_db()
    assert alice_key.revoked_at is not None
    assert "Revoked" in alice_client.get("/keys/").content.decode()


def test_it_sets_changes_and_removes_a_spend_limit(alice_client, alice_key):
    url = f"/keys/{alice_key.public_id}/limit/"
    assert alice_client.get(url).status_code == 200
    assert alice_client.post(url, {"spend_limit": "20", "spend_limit_period": "daily"}).status_code == 302
    alice_key.refresh_from_db()
    assert (alice_key.spend_limit_nanos, alice_key.spend_limit_period) == (20_000_000_000, "daily")
    started = alice_key.period_started_at
    APIKey.objects.filter(id=alice_key.id).update(period_spent_nanos=3_000_000_000)
    # Only the amount changes: this period's spend is kept.
    assert 'value="20.00"' in alice_client.get(url).content.decode()
    assert alice_client.post(url, {"spend_limit": "30", "spend_limit_period": "daily"}).status_code == 302
    alice_key.refresh_from_db()
    assert (alice_key.spend_limit_nanos, alice_key.period_spent_nanos) == (30_000_000_000, 3_000_000_000)
    assert alice_key.period_started_at == started
    # A new period starts counting afresh.
    assert alice_client.post(url, {"spend_limit": "30", "spend_limit_period": "monthly"}).status_code == 302
    alice_key.refresh_from_db()
    assert (alice_key.spend_limit_period, alice_key.period_spent_nanos) == ("monthly", 0)
    # Blank removes it.
    assert alice_client.post(url, {"spend_limit": "", "spend_limit_period": "monthly"}).status_code == 302
    alice_key.refresh_from_db()
    assert (alice_key.spend_limit_nanos, alice_key.spend_limit_period) == (None, "")


def test_it_refuses_a_bad_spend_limit_and_keeps_the_old_one(alice_client, alice_key):
    url = f"/keys/{alice_key.public_id}/limit/"
    alice_client.post(url, {"spend_limit": "20", "spend_limit_period": "daily"})
    for bad in ("-1", "0", "twenty", "0.0000000001"):
        page = alice_client.post(url, {"spend_limit": bad, "spend_limit_period": "weekly"})
        assert page.status_code == 400
        assert 'class="errorlist"' in page.content.decode()
    alice_key.refresh_from_db()
    assert (alice_key.spend_limit_nanos, alice_key.spend_limit_period) == (20_000_000_000, "daily")


def test_it_lets_a_member_see_keys_but_not_manage_them(bob_client, alice_key, alice_account):
    page = bob_client.get("/keys/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "alice key" in html
    assert "Create key" not in html
    assert "Revoke" not in html
    assert bob_client.post("/keys/", {"name": "bob's", "spend_limit_period": "monthly"}).status_code == 403
    assert bob_client.post(f"/keys/{alice_key.public_id}/revoke/").status_code == 403
    assert bob_client.post(f"/keys/{alice_key.public_id}/limit/", {"spend_limit": "5"}).status_code == 403
    alice_key.refresh_from_db()
    assert alice_key.revoked_at is None and alice_key.spend_limit_nanos is None
    assert APIKey.objects.filter(account=alice_account).count() == 1


def test_it_answers_404_for_another_accounts_key(charlie_client, alice_key):
    for url in (f"/keys/{alice_key.public_id}/revoke/", f"/keys/{alice_key.public_id}/limit/"):
        assert charlie_client.get(url).status_code == 404
        assert charlie_client.post(url, {"spend_limit": "5", "spend_limit_period": "daily"}).status_code == 404
    alice_key.refresh_from_db()
    assert alice_key.revoked_at is None and alice_key.spend_limit_nanos is None
    assert "alice key" not in charlie_client.get("/keys/").content.decode()


def test_it_lists_only_the_current_accounts_keys(alice_client, alice_key, charlie_account, charlie):
    api_key_create(account=charlie_account, name="charlie's secret project", created_by=charlie)
    html = alice_client.get("/keys/").content.decode()
    assert "alice key" in html
    assert "charlie's secret project" not in html


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/keys/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
