"""Every tenant-scoped page and API of accounts answers 404 for another Account's objects, and changes nothing."""

import pytest
from django.test import Client

from accounts.models import APIKey, Invitation, Membership
from accounts.services import invitation_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_objects(alice_account, alice, bob, alice_key):
    return {
        "key": alice_key.public_id,
        "membership": Membership.objects.get(account=alice_account, user=bob).id,
        "invitation": invitation_create(
            account=alice_account, email="dave@example.com", role="member", invited_by=alice
        ).id,
    }


PAGES = [
    ("get", "/keys/{key}/revoke/"),
    ("post", "/keys/{key}/revoke/"),
    ("get", "/keys/{key}/limit/"),
    ("post", "/keys/{key}/limit/"),
    ("post", "/team/members/{membership}/role/"),
    ("get", "/team/members/{membership}/remove/"),
    ("post", "/team/members/{membership}/remove/"),
    ("post", "/team/invitations/{invitation}/revoke/"),
]
APIS = [
    ("get", "/api/keys/{key}"),
    ("post", "/api/keys/{key}/revoke"),
    ("put", "/api/keys/{key}/spend-limit"),
]


def _unchanged(alice_account):
    key = APIKey.objects.get(account=alice_account)
    assert key.revoked_at is None and key.spend_limit_nanos is None
    assert Membership.objects.filter(account=alice_account).count() == 2
    assert Membership.objects.get(account=alice_account, user__email="bob@example.com").role == "member"
    assert Invitation.objects.get(account=alice_account).revoked_at is None


@pytest.mark.parametrize(("method", "path"), PAGES)
def test_it_answers_404_on_a_page_for_another_accounts_object(
    charlie_client, alice_account, alices_objects, method, path
):
    data = {"role": "owner", "spend_limit": "1", "spend_limit_period": "daily"}
    kwargs = {"data": data} if method == "post" else {}
    assert getattr(charlie_client, method)(path.format(**alices_objects), **kwargs).status_code == 404
    _unchanged(alice_account)


@pytest.mark.parametrize(("method", "path"), APIS)
def test_it_answers_404_on_the_api_for_another_accounts_object(
    charlie_client, charlie_key, alice_account, alices_objects, method, path
):
    body = {"spend_limit": "1", "spend_limit_period": "daily"}
    url = path.format(**alices_objects)
    by_session = getattr(charlie_client, method)(url, body, content_type="application/json")
    by_key = getattr(Client(), method)(
        url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {charlie_key.secret}"
    )
    assert (by_session.status_code, by_key.status_code) == (404, 404)
    _unchanged(alice_account)
