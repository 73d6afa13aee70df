"""Invitations end to end: the email, accepting with an existing login or by signing up, revoking, bad input."""

import re

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from accounts.models import Invitation, Membership, User

pytestmark = pytest.mark.django_db


def _invite(client, email="dave@example.com", role="admin"):
    return client.post("/team/", {"email": email, "role": role})


def _link(message) -> str:
    return re.search(r"http://[^/\s]+(/invitations/[\w-]+/)", message.body).group(1)


def test_it_emails_an_invitation_with_a_link(alice_client, alice_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert _invite(alice_client).status_code == 302
    [message] = mail.outbox
    assert message.to == ["dave@example.com"]
    assert "Alice's team" in message.subject
    assert "/invitations/" in message.body
    assert message.alternatives and "/invitations/" in message.alternatives[0][0]
    assert Invitation.objects.get(account=alice_account).role == "admin"


def test_it_lets_an_invitee_with_a_login_accept_through_the_link(
    alice_client, alice_account, django_capture_on_commit_callbacks
):
    dave = User.objects.create_user(email="dave@example.com", password="pw-pw-pw-pw-1")
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice_client, role="admin")
    link = _link(mail.outbox[0])
    # Anonymous: told to log in first.
    anonymous = Client().get(link)
    assert "Log in to accept" in anonymous.content.decode()
    dave_client = Client()
    dave_client.force_login(dave)
    page = dave_client.get(link)
    assert "Accept and join Alice&#x27;s team" in page.content.decode()
    assert not Membership.objects.filter(account=alice_account, user=dave).exists()  # GET changes nothing
    response = dave_client.post(link)
    assert response.status_code == 302
    assert Membership.objects.get(account=alice_account, user=dave).role == "admin"
    assert Invitation.objects.get(account=alice_account).accepted_at is not None
    # Dave now acts for Alice's team.
    assert "Alice&#x27;s team" in dave_client.get("/").content.decode()
    # The link works once.
    follow = dave_client.post(link, follow=True)
    assert "expired or was already used" in follow.content.decode()


def test_it_refuses_the_link_to_someone_with_another_email(
    alice_client, alice_account, charlie_client, charlie, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice_client)
    link = _link(mail.outbox[0])
    assert "this invitation is for dave@example.com" in charlie_client.get(link).content.decode()
    response = charlie_client.post(link, follow=True)
    assert "sent to another email address" in response.content.decode()
    assert not Membership.objects.filter(account=alice_account, user=charlie).exists()


def test_it_joins_a_new_user_to_the_team_when_they_verify_their_email(
    alice_client, alice_account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice_client, email="erin@example.com", role="member")
    newcomer = Client()
    response = newcomer.post(
        "/accounts/signup/",
        {"email": "erin@example.com", "password1": "a long enough passphrase", "password2": "a long enough passphrase"},
    )
    assert response.status_code == 302
    erin = User.objects.get(email="erin@example.com")
    assert not Membership.objects.filter(account=alice_account, user=erin).exists()  # not verified yet
    confirmation = re.search(r"http://[^/\s]+(/accounts/confirm-email/[^/\s]+/)", mail.outbox[-1].body).group(1)
    response = newcomer.post(confirmation)
    assert response.status_code == 302 and response["Location"] == "/"  # logged in on confirmation
    assert newcomer.session["_auth_user_id"] == str(erin.pk)
    assert EmailAddress.objects.get(user=erin).verified
    assert Membership.objects.get(account=alice_account, user=erin).role == "member"
    # They also got a team of their own.
    assert Membership.objects.filter(user=erin, role="owner").count() == 1


def test_it_lets_an_admin_revoke_an_invitation(alice_client, alice_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice_client)
    invitation = Invitation.objects.get(account=alice_account)
    assert alice_client.post(f"/team/invitations/{invitation.id}/revoke/").status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    dave = User.objects.create_user(email="dave@example.com", password="pw-pw-pw-pw-1")
    dave_client = Client()
    dave_client.force_login(dave)
    assert "expired, was revoked" in dave_client.get(_link(mail.outbox[0])).content.decode()
    dave_client.post(_link(mail.outbox[0]))
    assert not Membership.objects.filter(account=alice_account, user=dave).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "", "role": "member"}, "This field is required"),
        ({"email": "not-an-email", "role": "member"}, "Enter a valid email address"),
        ({"email": "bob@example.com", "role": "member"}, "already a member"),
        ({"email": "dave@example.com", "role": "owner"}, "Select a valid choice"),
        ({"email": "dave@example.com", "role": "superuser"}, "Select a valid choice"),
    ],
)
def test_it_refuses_a_bad_invitation_and_sends_nothing(alice_client, alice_account, data, message):
    response = alice_client.post("/team/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_it_refuses_a_second_open_invitation_to_the_same_email(alice_client, alice_account):
    _invite(alice_client)
    response = _invite(alice_client)
    assert response.status_code == 400
    assert "already has an open invitation" in response.content.decode()
    assert Invitation.objects.count() == 1


def test_it_answers_404_for_an_unknown_invitation_link(client):
    assert client.get("/invitations/no-such-token/").status_code == 404


def test_it_lets_a_team_invite_again_once_an_invitation_expired(alice_client, alice_account):
    with time_machine.travel("2026-01-01 00:00Z"):
        assert _invite(alice_client).status_code == 302
    with time_machine.travel("2026-01-09 00:00Z"):  # a week and a day later
        assert _invite(alice_client).status_code == 302
        open_ones = [i for i in Invitation.objects.filter(account=alice_account) if i.is_open]
    assert Invitation.objects.filter(account=alice_account).count() == 2
    assert len(open_ones) == 1
