"""Login security in the browser: password reset by email, TOTP activation, recovery codes, MFA login, deactivation."""

import re
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import expect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

NEW_PASSWORD = "a brand new passphrase"


def _totp(secret: str) -> str:
    # A code is valid for its 30-second window only: never compute one just before the window ends.
    if time.time() % 30 > 25:
        time.sleep(30 - time.time() % 30 + 0.5)
    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def _reauthenticate_if_asked(page, target: str):
    """allauth asks for the password again before changing MFA unless the login was very recent."""
    page.wait_for_url(re.compile(rf"/accounts/reauthenticate/|{re.escape(target)}$"))
    if "/accounts/reauthenticate/" in page.url:
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.shots("reauthenticate")
        page.get_by_role("button", name="Confirm").click()


def test_it_resets_a_password_and_protects_the_login_with_totp(live_server, page, alice, alice_account):
    cache.clear()
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)

    # Forgotten password: the reset link arrives by email.
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_url("**/accounts/password/reset/")
    page.get_by_label("Email").fill(alice.email)
    page.shots("password-reset")
    page.get_by_role("button", name="Reset My Password").click()
    page.wait_for_url("**/accounts/password/reset/done/")
    page.shots("password-reset-done")
    [message] = [m for m in mail.outbox if alice.email in m.to]
    path = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", message.body).group(1)
    page.goto(live_server.url + path)
    page.get_by_label("New Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New Password (again)").fill(NEW_PASSWORD)
    page.shots("password-reset-from-key")
    page.get_by_role("button", name="Change Password").click()
    page.wait_for_url("**/accounts/password/reset/key/done/")
    page.shots("password-reset-from-key-done")

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/")

    # The login's own pages: email addresses and password change.
    page.goto(f"{live_server.url}/accounts/email/")
    page.shots("email-addresses")
    page.get_by_role("link", name="Password", exact=True).click()
    page.wait_for_url("**/accounts/password/change/")
    page.shots("password-change")

    # Two-factor authentication with an authenticator app.
    page.goto(f"{live_server.url}/accounts/2fa/")
    page.shots("mfa-index")
    page.get_by_role("link", name="Activate").click()
    _reauthenticate_if_asked(page, "/accounts/2fa/totp/activate/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    secret = page.locator("#authenticator_secret").input_value()
    page.get_by_label("Authenticator code").fill(_totp(secret))
    page.shots("mfa-activate")
    page.get_by_role("button", name="Activate").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    codes = page.locator("#recovery_codes").input_value().split()
    assert len(codes) >= 5
    page.shots("mfa-recovery-codes")
    page.goto(f"{live_server.url}/accounts/2fa/")
    page.shots("mfa-index-active")

    # The next login asks for a code; a recovery code works once.
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/accounts/2fa/authenticate/")
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Sign In").click()
    assert "Incorrect code" in page.content()
    page.shots("mfa-authenticate-wrong-code")
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{live_server.url}/")
    page.shots("dashboard-after-mfa")

    # Turning it off again.
    page.goto(f"{live_server.url}/accounts/2fa/totp/deactivate/")
    _reauthenticate_if_asked(page, "/accounts/2fa/totp/deactivate/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/deactivate/$"))
    page.shots("mfa-deactivate")
    page.get_by_role("button", name="Deactivate").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/$"))
    assert "An authenticator app is not active" in page.content()
    page.shots("mfa-index-inactive")
