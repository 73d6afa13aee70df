"""allauth's pages render inside the portal's layout (our stylesheet, labelled fields, our buttons)."""

import pytest
from allauth.account.models import EmailAddress

pytestmark = pytest.mark.django_db

ENTRANCE_PAGES = [
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/password/reset/done/",
    "/accounts/confirm-email/",
]


@pytest.mark.parametrize("path", ENTRANCE_PAGES)
def test_it_renders_the_entrance_pages_in_the_portal_layout(client, path):
    page = client.get(path)
    html = page.content.decode()
    assert page.status_code == 200
    assert "infer.css" in html
    assert 'class="entrance"' in html
    assert "Skip to content" in html


@pytest.mark.parametrize("path", ["/accounts/email/", "/accounts/password/change/", "/accounts/2fa/"])
def test_it_renders_the_login_management_pages_with_their_tabs(alice_client, alice, path):
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    page = alice_client.get(path)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'class="manage"' in html
    assert 'aria-label="Your login"' in html
    assert 'href="/keys/"' in html  # the portal's navigation is there too


def test_it_labels_every_field_of_the_sign_up_form(client):
    html = client.get("/accounts/signup/").content.decode()
    for field in ("id_email", "id_password1", "id_password2"):
        assert f'<label for="{field}">' in html


def test_it_shows_sign_up_errors_next_to_the_fields(client):
    page = client.post("/accounts/signup/", {"email": "not-an-email", "password1": "a", "password2": "b"})
    assert page.status_code == 200
    assert 'class="errorlist"' in page.content.decode()
