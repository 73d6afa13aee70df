"""A buyer logs in to the portal and sees the balance (headless Chromium)."""

import pytest
from allauth.account.models import EmailAddress

from conftest import fund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_it_shows_the_balance_after_login(live_server, page, alice, alice_account):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    fund(alice_account, 12_345_000_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.shots("login")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/")
    assert "$12.34" in page.get_by_test_id("balance").inner_text()
    page.shots("dashboard")
