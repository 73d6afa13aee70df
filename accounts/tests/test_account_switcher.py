"""The account switcher: a user in several teams picks which one the portal acts for; never a stranger's."""

import pytest

from accounts.models import Membership
from accounts.services import api_key_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_in_two_teams(alice, alice_account, charlie_account, charlie):
    Membership.objects.create(account=charlie_account, user=alice, role=Membership.Role.ADMIN)
    api_key_create(account=charlie_account, name="charlie's key", created_by=charlie)
    return alice


def test_it_shows_the_switcher_to_a_user_in_several_teams(alice_client, alice_in_two_teams):
    html = alice_client.get("/").content.decode()
    assert 'id="account-switcher"' in html
    assert "Charlie&#x27;s team" in html and "Alice&#x27;s team" in html


def test_it_hides_the_switcher_from_a_user_in_one_team(alice_client):
    assert 'id="account-switcher"' not in alice_client.get("/").content.decode()


def test_it_switches_the_account_every_page_acts_for(alice_client, alice_in_two_teams, charlie_account):
    assert "alice key" not in alice_client.get("/keys/").content.decode()
    response = alice_client.post("/switch/", {"code": str(charlie_account.code), "next": "/keys/"})
    assert response.status_code == 302 and response["Location"] == "/keys/"
    html = alice_client.get("/keys/").content.decode()
    assert "charlie&#x27;s key" in html
    # The choice sticks for the session, and the old path with the code in the URL works too.
    assert "<h1>Charlie&#x27;s team</h1>" in alice_client.get("/").content.decode()


def test_it_lands_on_the_dashboard_when_the_page_belongs_to_the_old_team(
    alice_client, alice_in_two_teams, alice_account, charlie_account
):
    response = alice_client.post(f"/switch/{charlie_account.code}/", {"next": "/keys/abc/revoke/"})
    assert response["Location"] == "/"
    response = alice_client.post("/switch/", {"code": str(alice_account.code), "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_it_answers_404_for_a_team_the_user_is_not_in(bob_client, charlie_account, alice_account):
    assert bob_client.post("/switch/", {"code": str(charlie_account.code)}).status_code == 404
    assert bob_client.post(f"/switch/{charlie_account.code}/").status_code == 404
    assert bob_client.post("/switch/", {"code": "not-a-uuid"}).status_code == 404
    assert "<h1>Alice&#x27;s team</h1>" in bob_client.get("/").content.decode()


def test_it_refuses_a_switch_by_get(alice_client, alice_in_two_teams, charlie_account):
    assert alice_client.get(f"/switch/{charlie_account.code}/").status_code == 405
