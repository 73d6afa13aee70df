"""Teams in the browser: invite by email, accept through the link, switch accounts, settings, a member's view."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache

from accounts.models import Account, Membership, User
from accounts.services import account_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "correct horse battery staple"


def _verified(user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _log_in(page, live_server, email, next_path=""):
    page.goto(f"{live_server.url}/accounts/login/{next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()


def test_it_invites_a_teammate_who_accepts_and_switches_between_teams(live_server, page, alice, alice_account, bob):
    cache.clear()
    _verified(alice)
    dave = _verified(User.objects.create_user(email="dave@example.com", password=PASSWORD))
    account_create(name="Dave's lab", owner=dave)

    # Alice invites Dave as an admin.
    _log_in(page, live_server, alice.email)
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    page.wait_for_url("**/team/")
    page.shots("team")
    page.get_by_label("Email address").fill("not an email")
    page.get_by_role("button", name="Send invitation").click()
    assert "Enter a valid email address" in page.content()
    page.shots("team-bad-invitation")
    page.get_by_label("Email address").fill("dave@example.com")
    page.get_by_label("Role", exact=True).select_option("admin")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_test_id("invitation-dave@example.com").wait_for()
    page.shots("team-invited")
    page.get_by_role("link", name="Remove bob@example.com").click()
    page.shots("remove-member-confirmation")
    page.get_by_role("link", name="Cancel").click()
    page.get_by_role("link", name="Create another team").click()
    page.shots("create-team")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.shots("settings")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/")

    # Dave follows the link from the email, logs in, and accepts.
    [message] = [m for m in mail.outbox if "dave@example.com" in m.to]
    path = re.search(r"https?://[^/\s]+(/invitations/[\w-]+/)", message.body).group(1)
    page.goto(live_server.url + path)
    page.shots("invitation-anonymous")
    page.get_by_role("link", name="Log in to accept").click()
    page.get_by_label("Email").fill("dave@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"**{path}")
    page.shots("invitation-accept")
    page.get_by_role("button", name="Accept and join Alice's team").click()
    page.wait_for_url(f"{live_server.url}/")
    assert Membership.objects.get(account=alice_account, user=dave).role == "admin"
    assert "Alice's team" in page.get_by_role("heading", level=1).inner_text()
    page.shots("dashboard-after-joining")

    # Dave is in two teams now: the switcher changes which one every page acts for.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    page.wait_for_url("**/keys/")
    page.get_by_label("Acting for team").select_option(label="Dave's lab")
    page.get_by_role("button", name="Switch").click()
    page.wait_for_url("**/keys/")
    assert "Dave's lab" in page.content() and "Now acting for Dave's lab" in page.content()
    page.shots("switched-to-daves-lab")

    # Bob, a member, sees the team read-only.
    page.get_by_role("button", name="Log out").click()
    _verified(bob)
    _log_in(page, live_server, bob.email)
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/team/")
    assert page.get_by_role("button", name="Send invitation").count() == 0
    page.shots("team-as-member")
    page.goto(f"{live_server.url}/settings/")
    page.shots("settings-as-member")
    # And a stranger's object is a plain 404.
    other = Account.objects.get(name="Dave's lab")
    page.goto(f"{live_server.url}/team/members/{other.memberships.get().id}/remove/")
    page.shots("foreign-membership-404")
    assert "Not found" in page.content() or "Page not found" in page.content()
