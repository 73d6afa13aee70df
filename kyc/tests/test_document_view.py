"""KYC documents: a 404 for anyone but support staff and superusers; every look is recorded."""

import logging

import pytest

from accounts.models import User
from kyc import services
from kyc.models import KYCDocument, StaffAction
from kyc.storage import NoPublicURL

from .conftest import upload


@pytest.fixture
def document(submission):
    return submission.documents.get(kind=KYCDocument.Kind.IDENTITY)


def _url(document):
    return f"/kyc/documents/{document.code}/"


def _login(client, user):
    client.force_login(user)


def test_it_is_a_404_for_anonymous(client, document):
    assert client.get(_url(document)).status_code == 404


def test_it_is_a_404_for_the_operator_who_uploaded_it(client, alice, document):
    _login(client, alice)
    assert client.get(_url(document)).status_code == 404


def test_it_is_a_404_for_a_buyer_and_another_operator(client, charlie, charlie_operator, document):
    _login(client, charlie)
    assert client.get(_url(document)).status_code == 404


def test_it_is_a_404_for_finance_and_for_staff_without_a_group(client, finance, staff_without_group, document):
    for user in (finance, staff_without_group):
        _login(client, user)
        assert client.get(_url(document)).status_code == 404
    assert not StaffAction.objects.exists()


def test_it_is_a_404_for_a_support_member_who_is_no_longer_staff(client, support, document):
    User.objects.filter(pk=support.pk).update(is_staff=False)
    _login(client, support)
    assert client.get(_url(document)).status_code == 404


def test_it_serves_support_and_records_who_looked_and_when(client, support, document):
    _login(client, support)
    response = client.get(_url(document))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "passport" not in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\x89PNG")
    client.get(_url(document))
    views = StaffAction.objects.filter(action=StaffAction.Action.KYC_DOCUMENT_VIEWED)
    assert views.count() == 2
    assert {(v.actor_id, v.object_id) for v in views} == {(support.id, str(document.pk))}
    assert all(v.created_at is not None for v in views)


def test_it_serves_superusers_and_finance_staff_also_in_support(client, superuser, finance_and_support, document):
    for user in (superuser, finance_and_support):
        _login(client, user)
        assert client.get(_url(document)).status_code == 200
    assert StaffAction.objects.filter(action="kyc_document_viewed").count() == 2


def test_it_is_a_404_for_an_unknown_or_replaced_document(client, support, operator, alice, document):
    _login(client, support)
    assert client.get("/kyc/documents/00000000-0000-0000-0000-000000000000/").status_code == 404
    # Rejected, the operator uploads a new document: the old one is gone from disk and from the view.
    services.kyc_submission_reject(submission=document.submission, actor=support, reason="Expired passport")
    services.kyc_submission_update(
        account=operator,
        user=alice,
        legal_name="Alice Smith",
        identity_document=upload("new-passport.png"),
    )
    assert client.get(_url(document)).status_code == 404
    document.refresh_from_db()
    assert document.deleted_reason == "replaced"


def test_it_keeps_files_private_and_names_out_of_logs(client, support, operator, alice, private_root, caplog):
    caplog.set_level(logging.DEBUG)
    services.kyc_submission_update(
        account=operator,
        user=alice,
        legal_name="Alice Smith",
        identity_document=upload("Alice-Smith-passport-P1234567.png"),
    )
    document = KYCDocument.objects.get()
    assert (private_root / document.file.name).is_file()
    assert str(private_root) in str((private_root / document.file.name).resolve())
    assert "Alice-Smith" not in document.file.name
    assert oct((private_root / document.file.name).stat().st_mode)[-3:] == "600"
    _login(client, support)
    client.get(_url(document))
    client.get("/kyc/documents/00000000-0000-0000-0000-000000000000/")
    assert "Alice-Smith-passport" not in caplog.text
    with pytest.raises(NoPublicURL):
        document.file.url
