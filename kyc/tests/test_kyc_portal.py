"""The operator's KYC page: draft, submit, refusals with clear messages, rejection shown, resubmission."""

from datetime import date

import pytest

from kyc.models import KYCDocument, KYCEvent, KYCSubmission

from .conftest import JPEG_BYTES, PDF_BYTES, png_bytes, upload

FORM = {"legal_name": "Alice Smith", "date_of_birth": "1990-04-02", "country": "DE", "address": "Hauptstraße 1, Berlin"}


@pytest.fixture
def alice_client(client, alice, operator):
    client.force_login(alice)
    return client


def _post(client, action="submit", **files_and_fields):
    data = {**FORM, "action": action, **files_and_fields}
    return client.post("/kyc/", data)


def test_it_shows_the_form_to_an_operator(alice_client):
    page = alice_client.get("/kyc/")
    assert page.status_code == 200
    assert b"Not submitted yet" in page.content
    assert b'name="identity_document"' in page.content


def test_it_is_a_404_for_a_buyer_only_account(client, charlie, charlie_account):
    client.force_login(charlie)
    assert client.get("/kyc/").status_code == 404


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    assert client.get("/kyc/").status_code == 302  # to the login page


def test_it_saves_a_draft_without_documents(alice_client, operator):
    response = _post(alice_client, action="save")
    assert response.status_code == 302
    submission = KYCSubmission.objects.get(account=operator)
    assert submission.status == "draft"
    assert submission.legal_name == "Alice Smith"


def test_it_submits_with_an_identity_document(alice_client, operator, private_root):
    response = _post(alice_client, identity_document=upload(), selfie=upload("me.jpg", JPEG_BYTES, "image/jpeg"))
    assert response.status_code == 302
    submission = KYCSubmission.objects.get(account=operator)
    assert submission.status == "submitted"
    assert submission.submitted_at is not None
    kinds = {d.kind: d.content_type for d in submission.documents.all()}
    assert kinds == {"identity": "image/png", "selfie": "image/jpeg"}
    assert all((private_root / d.file.name).is_file() for d in submission.documents.all())
    assert list(submission.events.values_list("action", flat=True)) == ["submitted"]
    assert b"Under review" in alice_client.get("/kyc/").content


def test_it_accepts_a_pdf(alice_client, operator):
    _post(alice_client, identity_document=upload("id.pdf", PDF_BYTES, "application/pdf"))
    assert KYCDocument.objects.get().content_type == "application/pdf"


def test_it_refuses_to_submit_without_an_identity_document(alice_client, operator):
    response = _post(alice_client)
    assert response.status_code == 200
    assert b"Upload an identity document" in response.content
    assert KYCSubmission.objects.get(account=operator).status == "draft"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("id.gif", b"GIF89a" + b"\x00" * 100, b"Upload a JPEG, PNG or PDF file"),
        ("id.png", b"just text pretending to be a png", b"Upload a JPEG, PNG or PDF file"),
        ("id.exe", b"MZ\x90\x00" + b"\x00" * 100, b"Upload a JPEG, PNG or PDF file"),
    ],
)
def test_it_refuses_files_that_are_not_jpeg_png_or_pdf(alice_client, operator, name, content, message, private_root):
    response = _post(alice_client, identity_document=upload(name, content, "image/png"))
    assert response.status_code == 200
    assert message in response.content
    assert not KYCSubmission.objects.filter(account=operator).exclude(status="draft").exists()
    assert not KYCDocument.objects.exists()
    assert not private_root.exists() or not any(p.is_file() for p in private_root.rglob("*"))


def test_it_refuses_an_empty_file(alice_client, operator):
    response = _post(alice_client, identity_document=upload("id.png", b"", "image/png"))
    assert response.status_code == 200
    assert b"The submitted file is empty" in response.content or b"The file is empty" in response.content
    assert not KYCDocument.objects.exists()


def test_it_refuses_a_file_over_the_size_limit(alice_client, operator, settings):
    settings.KYC_MAX_DOCUMENT_BYTES = 1024
    response = _post(alice_client, identity_document=upload("big.png", png_bytes(400, 400, (1, 2, 3)) + b"\x00" * 2048))
    assert response.status_code == 200
    assert b"The file is too large" in response.content
    assert not KYCDocument.objects.exists()


def test_it_refuses_a_minor_and_a_future_birth_date(alice_client, operator):
    today = date.today()
    response = _post(
        alice_client, date_of_birth=today.replace(year=today.year - 10).isoformat(), identity_document=upload()
    )
    assert b"at least 18 years old" in response.content
    response = _post(
        alice_client, date_of_birth=today.replace(year=today.year + 1).isoformat(), identity_document=upload()
    )
    assert b"must be in the past" in response.content
    assert not KYCDocument.objects.exists()


def test_it_refuses_an_unknown_country(alice_client, operator):
    response = _post(alice_client, country="XX", identity_document=upload())
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content


def test_it_locks_the_details_while_under_review(alice_client, submission):
    page = alice_client.get("/kyc/")
    assert b'name="identity_document"' not in page.content
    _post(alice_client, legal_name="Someone Else", identity_document=upload())
    submission.refresh_from_db()
    assert submission.legal_name == "Alice Smith"
    assert submission.documents.count() == 1


def test_it_shows_the_rejection_reason_and_takes_a_resubmission(alice_client, submission, support):
    from kyc import services

    services.kyc_submission_reject(submission=submission, actor=support, reason="The passport photo is blurred")
    page = alice_client.get("/kyc/")
    assert b"Changes needed" in page.content
    assert b"The passport photo is blurred" in page.content
    assert b"Submit again" in page.content
    response = _post(alice_client, identity_document=upload("sharper.png"))
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.status == "resubmitted"
    assert list(submission.events.values_list("action", flat=True)) == ["submitted", "rejected", "resubmitted"]
    assert submission.documents.filter(deleted_at__isnull=True).count() == 1
    assert KYCEvent.objects.filter(submission=submission).count() == 3


def test_it_lets_only_owners_and_admins_change_the_details(client, bob, operator):
    client.force_login(bob)
    page = client.get("/kyc/")
    assert page.status_code == 200
    assert b'name="identity_document"' not in page.content
    _post(client, identity_document=upload())
    assert not KYCSubmission.objects.exists()


def test_it_never_shows_another_tenants_details(client, charlie, charlie_operator, submission):
    client.force_login(charlie)
    page = client.get("/kyc/")
    assert page.status_code == 200
    assert b"Alice Smith" not in page.content
    assert b"Not submitted yet" in page.content
