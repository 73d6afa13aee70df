"""A newcomer signs up, verifies the email, logs in, sees the balance, creates a key, copies it and uses it."""

import re

import httpx
import pytest
from django.core import mail
from django.core.cache import cache

from accounts.models import APIKey, Membership
from billing.checks import ledger_check
from conftest import fund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

EMAIL = "zoe@example.com"
PASSWORD = "a long and private passphrase"


def _confirmation_link(live_server) -> str:
    [message] = [m for m in mail.outbox if EMAIL in m.to]
    path = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", message.body).group(1)
    return live_server.url + path


def test_it_takes_a_newcomer_from_sign_up_to_a_working_api_key(live_server, page):
    cache.clear()  # allauth's rate limits live in the cache
    page.goto(f"{live_server.url}/")
    page.wait_for_url("**/accounts/login/**")
    page.shots("login-redirect")
    page.get_by_role("link", name="Sign up", exact=True).first.click()
    page.wait_for_url("**/accounts/signup/**")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.shots("signup")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")
    assert "Verify Your Email Address" in page.content()
    page.shots("verification-sent")

    # The email in the test outbox (the live server runs in this process).
    page.goto(_confirmation_link(live_server))
    page.shots("confirm-email")
    page.get_by_role("button", name="Confirm").click()
    # Confirming in the browser that signed up logs the newcomer in.
    page.wait_for_url(f"{live_server.url}/")
    assert f"You have confirmed {EMAIL}" in page.content()
    page.shots("confirmed-dashboard")

    # The team that sign-up created gets some money; the newcomer logs out and in again.
    account = Membership.objects.get(user__email=EMAIL, role="owner").account
    fund(account, 20_000_000_000)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")
    page.shots("logged-out")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/")
    assert "$20.00" in page.get_by_test_id("balance").inner_text()
    page.shots("dashboard-with-balance")

    # Create a key: shown once, copied with the button.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    page.wait_for_url("**/keys/")
    page.shots("keys-empty")
    page.get_by_role("button", name="Create key").click()  # no name: a clear error, nothing created
    assert "Give the key a name" in page.content()
    assert APIKey.objects.count() == 0
    page.shots("keys-missing-name")
    page.get_by_label("Name").fill("My laptop")
    page.get_by_label("Spend limit (USD)").fill("25")
    page.get_by_label("Reset").select_option("weekly")
    page.get_by_role("button", name="Create key").click()
    full_key = page.get_by_test_id("new-key").input_value()
    assert re.fullmatch(r"infer_sk_[A-Za-z0-9]{12}_[A-Za-z0-9]{32}", full_key)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied to the clipboard.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == full_key
    page.shots("key-created-and-copied")

    page.get_by_role("link", name="Done, back to API keys").click()
    page.wait_for_url("**/keys/")
    assert full_key not in page.content()  # shown once only
    assert "My laptop" in page.content() and "$25.00 per week" in page.content()
    page.shots("keys-list")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.shots("keys-list-on-a-phone")
    page.set_viewport_size({"width": 1280, "height": 860})

    # The copied key works on the API.
    response = httpx.get(f"{live_server.url}/api/balance", headers={"Authorization": f"Bearer {full_key}"})
    assert response.status_code == 200
    assert response.json()["balance_nanos"] == 20_000_000_000

    # Change its spend limit: a bad amount is refused and changes nothing, a good one is saved.
    key = APIKey.objects.get()
    page.get_by_role("link", name="Change limit of My laptop").click()
    page.get_by_label("Spend limit (USD)").fill("-3")
    page.get_by_role("button", name="Save limit").click()
    assert "more than $0" in page.content()
    page.shots("spend-limit-refused")
    page.get_by_label("Spend limit (USD)").fill("40")
    page.get_by_label("Reset").select_option("daily")
    page.get_by_role("button", name="Save limit").click()
    page.wait_for_url("**/keys/")
    assert "$40.00 per day" in page.content()
    key.refresh_from_db()
    assert (key.spend_limit_nanos, key.spend_limit_period) == (40_000_000_000, "daily")

    # Revoke it through the confirmation page: the very next call is refused.
    page.get_by_role("link", name="Revoke My laptop").click()
    page.shots("revoke-confirmation")
    page.get_by_role("button", name="Revoke key").click()
    page.wait_for_url("**/keys/")
    assert "just now" in page.get_by_test_id(f"key-{key.public_id}").inner_text()  # last used by the call above
    page.shots("keys-after-revoking")
    response = httpx.get(f"{live_server.url}/api/balance", headers={"Authorization": f"Bearer {full_key}"})
    assert response.status_code == 401
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert ledger_check().ok
