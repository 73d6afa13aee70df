"""Account settings: name and roles (buyer, operator) for owners and admins; read-only for members."""

import pytest

from billing.models import LedgerAccount

pytestmark = pytest.mark.django_db


def test_it_saves_the_name_and_roles(alice_client, alice_account):
    response = alice_client.post("/settings/", {"name": "Alice Labs", "is_buyer": "on", "is_operator": "on"})
    assert response.status_code == 302
    alice_account.refresh_from_db()
    assert (alice_account.name, alice_account.is_buyer, alice_account.is_operator) == ("Alice Labs", True, True)
    # Acting as an operator gives the Account its earnings ledger account.
    assert LedgerAccount.objects.filter(owner=alice_account, kind=LedgerAccount.Kind.OPERATOR_EARNINGS).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "is_buyer": "on"}, "This field is required"),
        ({"name": "   ", "is_buyer": "on"}, "This field is required"),
        ({"name": "Fine"}, "acts as a buyer, an operator, or both"),
        ({"name": "x" * 101, "is_buyer": "on"}, "at most 100 characters"),
    ],
)
def test_it_refuses_bad_settings_and_changes_nothing(alice_client, alice_account, data, message):
    response = alice_client.post("/settings/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    alice_account.refresh_from_db()
    assert (alice_account.name, alice_account.is_buyer, alice_account.is_operator) == ("Alice's team", True, False)


def test_it_shows_a_member_the_settings_read_only(bob_client, alice_account):
    page = bob_client.get("/settings/")
    assert page.status_code == 200
    assert "Only owners and admins can change these" in page.content.decode()
    assert bob_client.post("/settings/", {"name": "Bob's now", "is_buyer": "on"}).status_code == 403
    alice_account.refresh_from_db()
    assert alice_account.name == "Alice's team"


def test_it_changes_only_the_current_account(charlie_client, charlie_account, alice_account):
    assert charlie_client.post("/settings/", {"name": "Charlie Co", "is_buyer": "on"}).status_code == 302
    alice_account.refresh_from_db()
    charlie_account.refresh_from_db()
    assert (alice_account.name, charlie_account.name) == ("Alice's team", "Charlie Co")
