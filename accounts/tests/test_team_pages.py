"""The Team page: members and roles, who may change them, removing people, leaving; tenancy."""

import pytest

from accounts.models import Membership
from accounts.services import invitation_create

pytestmark = pytest.mark.django_db


def _membership(account, user):
    return Membership.objects.get(account=account, user=user)


def test_it_lists_members_with_roles_and_pending_invitations(alice_client, alice_account, alice):
    invitation_create(account=alice_account, email="dave@example.com", role="admin", invited_by=alice)
    html = alice_client.get("/team/").content.decode()
    assert "alice@example.com" in html and "bob@example.com" in html
    assert "dave@example.com" in html
    assert "Send invitation" in html


def test_it_shows_a_member_the_team_read_only(bob_client, alice_account):
    html = bob_client.get("/team/").content.decode()
    assert "alice@example.com" in html
    assert "Send invitation" not in html
    assert 'name="role"' not in html
    assert "Leave team" in html  # their own membership only


def test_it_lets_an_owner_change_a_role(alice_client, alice_account, bob):
    bob_membership = _membership(alice_account, bob)
    response = alice_client.post(f"/team/members/{bob_membership.id}/role/", {"role": "admin"})
    assert response.status_code == 302
    bob_membership.refresh_from_db()
    assert bob_membership.role == "admin"


def test_it_refuses_an_unknown_role_and_changes_nothing(alice_client, alice_account, bob):
    bob_membership = _membership(alice_account, bob)
    response = alice_client.post(f"/team/members/{bob_membership.id}/role/", {"role": "emperor"}, follow=True)
    assert "Choose owner, admin or member" in response.content.decode()
    bob_membership.refresh_from_db()
    assert bob_membership.role == "member"


def test_it_lets_no_member_manage_the_team(bob_client, alice_account, alice, bob):
    alice_membership = _membership(alice_account, alice)
    bob_membership = _membership(alice_account, bob)
    assert bob_client.post(f"/team/members/{bob_membership.id}/role/", {"role": "owner"}).status_code == 403
    assert bob_client.post(f"/team/members/{alice_membership.id}/role/", {"role": "member"}).status_code == 403
    assert bob_client.post(f"/team/members/{alice_membership.id}/remove/").status_code == 403
    assert bob_client.post("/team/", {"email": "eve@example.com", "role": "admin"}).status_code == 403
    assert {m.role for m in Membership.objects.filter(account=alice_account)} == {"owner", "member"}
    assert not alice_account.invitations.exists()


def test_it_lets_only_an_owner_grant_or_take_the_owner_role(client, alice_account, alice, bob, charlie):
    Membership.objects.create(account=alice_account, user=charlie, role="admin")
    client.force_login(charlie)
    client.post(f"/switch/{alice_account.code}/")
    bob_membership = _membership(alice_account, bob)
    response = client.post(f"/team/members/{bob_membership.id}/role/", {"role": "owner"}, follow=True)
    assert "Only an owner can grant" in response.content.decode()
    alice_membership = _membership(alice_account, alice)
    response = client.post(f"/team/members/{alice_membership.id}/remove/", follow=True)
    assert "Only an owner can remove an owner" in response.content.decode()
    # An admin may still manage members.
    assert client.post(f"/team/members/{bob_membership.id}/role/", {"role": "admin"}).status_code == 302
    bob_membership.refresh_from_db()
    assert bob_membership.role == "admin"
    assert _membership(alice_account, alice).role == "owner"


def test_it_keeps_the_last_owner_from_leaving_or_stepping_down(alice_client, alice_account, alice):
    alice_membership = _membership(alice_account, alice)
    response = alice_client.post(f"/team/members/{alice_membership.id}/remove/", follow=True)
    assert "at least one owner" in response.content.decode()
    response = alice_client.post(f"/team/members/{alice_membership.id}/role/", {"role": "admin"}, follow=True)
    assert "at least one owner" in response.content.decode()
    alice_membership.refresh_from_db()
    assert alice_membership.role == "owner"


def test_it_lets_an_owner_leave_once_someone_else_is_owner(alice_client, alice_account, alice, bob):
    alice_client.post(f"/team/members/{_membership(alice_account, bob).id}/role/", {"role": "owner"})
    response = alice_client.post(f"/team/members/{_membership(alice_account, alice).id}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(account=alice_account, user=alice).exists()
    # Alice is in no team now: the portal offers to create one rather than failing.
    response = alice_client.get("/")
    assert response.status_code == 302 and response["Location"] == "/team/new/"
    assert alice_client.post("/team/new/", {"name": "Alice solo"}).status_code == 302
    assert Membership.objects.get(user=alice).account.name == "Alice solo"


def test_it_lets_a_member_leave(bob_client, alice_account, bob):
    bob_membership = _membership(alice_account, bob)
    assert "Leave" in bob_client.get(f"/team/members/{bob_membership.id}/remove/").content.decode()
    assert bob_client.post(f"/team/members/{bob_membership.id}/remove/").status_code == 302
    assert not Membership.objects.filter(account=alice_account, user=bob).exists()


def test_it_lets_an_owner_remove_a_member_after_confirmation(alice_client, alice_account, bob):
    bob_membership = _membership(alice_account, bob)
    assert "Remove bob@example.com?" in alice_client.get(f"/team/members/{bob_membership.id}/remove/").content.decode()
    assert Membership.objects.filter(id=bob_membership.id).exists()
    assert alice_client.post(f"/team/members/{bob_membership.id}/remove/").status_code == 302
    assert not Membership.objects.filter(id=bob_membership.id).exists()


def test_it_answers_404_for_another_accounts_memberships_and_invitations(charlie_client, alice_account, alice, bob):
    invitation = invitation_create(account=alice_account, email="dave@example.com", role="member", invited_by=alice)
    bob_membership = _membership(alice_account, bob)
    assert charlie_client.post(f"/team/members/{bob_membership.id}/role/", {"role": "owner"}).status_code == 404
    assert charlie_client.get(f"/team/members/{bob_membership.id}/remove/").status_code == 404
    assert charlie_client.post(f"/team/members/{bob_membership.id}/remove/").status_code == 404
    assert charlie_client.post(f"/team/invitations/{invitation.id}/revoke/").status_code == 404
    bob_membership.refresh_from_db()
    invitation.refresh_from_db()
    assert bob_membership.role == "member"
    assert invitation.revoked_at is None
    html = charlie_client.get("/team/").content.decode()
    assert "bob@example.com" not in html and "dave@example.com" not in html


def test_it_refuses_a_team_without_a_name(alice_client, alice):
    response = alice_client.post("/team/new/", {"name": "   "})
    assert response.status_code == 400
    assert Membership.objects.filter(user=alice).count() == 1
