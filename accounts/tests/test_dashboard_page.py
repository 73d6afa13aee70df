"""The dashboard: the current Account's balance, never another's."""

import pytest

from conftest import fund

pytestmark = pytest.mark.django_db


def test_it_shows_the_balance_of_the_current_account_only(alice_client, alice_account, charlie_account):
    fund(alice_account, 12_345_000_000)
    fund(charlie_account, 99_000_000_000)
    html = alice_client.get("/").content.decode()
    assert "$12.34" in html
    assert "$99.00" not in html
