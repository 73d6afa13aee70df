"""Support reviews KYC in the admin: the queue, the review page, approve and reject, emails, history."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.services import account_create
from kyc import services
from kyc.models import KYCEvent, KYCSubmission, StaffAction

from .conftest import DETAILS, upload


@pytest.fixture
def support_client(client, support):
    client.force_login(support)
    return client


def _operator_submission(owner, name, country, when):
    account = account_create(name=name, owner=owner, is_buyer=False, is_operator=True)
    with time_machine.travel(when, tick=False):
        return services.kyc_submission_update(
            account=account, user=owner, **{**DETAILS, "country": country}, identity_document=upload(), submit=True
        )


def test_it_lists_pending_submissions_oldest_first(support_client, alice, bob, charlie):
    now = timezone.now()
    newer = _operator_submission(alice, "Newer GPUs", "DE", now - timedelta(hours=1))
    older = _operator_submission(bob, "Older GPUs", "FR", now - timedelta(days=2))
    oldest = _operator_submission(charlie, "Oldest GPUs", "US", now - timedelta(days=5))
    page = support_client.get("/admin/kyc/kycsubmission/")
    assert page.status_code == 200
    rows = page.context["cl"].result_list
    assert [s.pk for s in rows] == [oldest.pk, older.pk, newer.pk]


def test_it_puts_decided_submissions_after_pending_ones(support_client, support, alice, bob):
    now = timezone.now()
    decided = _operator_submission(alice, "Decided GPUs", "US", now - timedelta(days=5))
    services.kyc_submission_approve(submission=decided, actor=support)
    pending = _operator_submission(bob, "Pending GPUs", "FR", now - timedelta(hours=1))
    rows = list(support_client.get("/admin/kyc/kycsubmission/").context["cl"].result_list)
    assert [s.pk for s in rows] == [pending.pk, decided.pk]


def test_it_filters_by_status_and_country(support_client, support, alice, bob):
    now = timezone.now()
    german = _operator_submission(alice, "German GPUs", "DE", now - timedelta(hours=2))
    french = _operator_submission(bob, "French GPUs", "FR", now - timedelta(hours=1))
    services.kyc_submission_approve(submission=french, actor=support)
    by_country = support_client.get("/admin/kyc/kycsubmission/?country=DE").context["cl"].result_list
    assert [s.pk for s in by_country] == [german.pk]
    pending = support_client.get("/admin/kyc/kycsubmission/?status=pending").context["cl"].result_list
    assert [s.pk for s in pending] == [german.pk]
    approved = support_client.get("/admin/kyc/kycsubmission/?status=approved").context["cl"].result_list
    assert [s.pk for s in approved] == [french.pk]


def test_it_shows_documents_inline_through_the_audited_view(support_client, submission):
    page = support_client.get(f"/admin/kyc/kycsubmission/{submission.pk}/change/")
    assert page.status_code == 200
    document = submission.documents.get()
    assert f'<img src="/kyc/documents/{document.code}/"'.encode() in page.content
    assert b"Alice Smith" in page.content
    assert b'id="kyc-approve"' in page.content


def test_it_links_pdfs_instead_of_embedding_them(support_client, operator, alice, support):
    from .conftest import PDF_BYTES

    submission = services.kyc_submission_update(
        account=operator,
        user=alice,
        **DETAILS,
        identity_document=upload("id.pdf", PDF_BYTES, "application/pdf"),
        submit=True,
    )
    page = support_client.get(f"/admin/kyc/kycsubmission/{submission.pk}/change/")
    document = submission.documents.get()
    assert (
        f'<a href="/kyc/documents/{document.code}/" target="_blank" rel="noopener">Open the PDF</a>'.encode()
        in page.content
    )


def test_it_approves_records_and_emails_the_operator(
    support_client, support, submission, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(f"/admin/kyc/kycsubmission/{submission.pk}/approve/")
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.status == "approved"
    assert submission.decided_by == support
    assert StaffAction.objects.filter(action="kyc_approved", actor=support, object_id=str(submission.pk)).exists()
    assert list(submission.events.values_list("action", flat=True)) == ["submitted", "approved"]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert "Identity verified" in message.subject
    assert message.alternatives and "approved" in message.alternatives[0][0]


def test_it_requires_a_reason_to_reject(support_client, submission):
    response = support_client.post(f"/admin/kyc/kycsubmission/{submission.pk}/reject/", {"reason": "   "})
    assert response.status_code == 200
    assert b"This field is required" in response.content
    submission.refresh_from_db()
    assert submission.status == "submitted"
    with pytest.raises(services.KYCError):
        services.kyc_submission_reject(submission=submission, actor=response.wsgi_request.user, reason="")


def test_it_rejects_with_the_reason_in_the_email(
    support_client, support, submission, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            f"/admin/kyc/kycsubmission/{submission.pk}/reject/", {"reason": "The document has expired"}
        )
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.status == "rejected"
    assert submission.rejection_reason == "The document has expired"
    assert KYCEvent.objects.get(action="rejected").reason == "The document has expired"
    assert StaffAction.objects.get(action="kyc_rejected").reason == "The document has expired"
    assert len(mail.outbox) == 1
    assert "The document has expired" in mail.outbox[0].body
    assert "The document has expired" in mail.outbox[0].alternatives[0][0]


def test_it_shows_the_decision_history(support_client, support, submission):
    services.kyc_submission_reject(submission=submission, actor=support, reason="Blurred photo")
    page = support_client.get(f"/admin/kyc/kycsubmission/{submission.pk}/change/")
    assert b"Decision history" in page.content
    assert b"Blurred photo" in page.content
    assert b'id="kyc-approve"' not in page.content  # decided: nothing to decide


def test_it_approves_and_rejects_from_the_queue_with_actions(
    support_client, alice, bob, django_capture_on_commit_callbacks
):
    now = timezone.now()
    one = _operator_submission(alice, "One", "DE", now)
    two = _operator_submission(bob, "Two", "FR", now)
    with django_capture_on_commit_callbacks(execute=True):
        support_client.post("/admin/kyc/kycsubmission/", {"action": "approve_selected", "_selected_action": [one.pk]})
        form = support_client.post(
            "/admin/kyc/kycsubmission/", {"action": "reject_selected", "_selected_action": [two.pk]}
        )
        assert b"Reason" in form.content
        support_client.post(
            "/admin/kyc/kycsubmission/",
            {"action": "reject_selected", "_selected_action": [two.pk], "reason": "Name does not match"},
        )
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status) == ("approved", "rejected")
    assert two.rejection_reason == "Name does not match"
    assert len(mail.outbox) == 2


def test_it_refuses_to_decide_twice(support, submission):
    services.kyc_submission_approve(submission=submission, actor=support)
    with pytest.raises(services.KYCError):
        services.kyc_submission_reject(submission=submission, actor=support, reason="Changed my mind")
    submission.refresh_from_db()
    assert submission.status == KYCSubmission.Status.APPROVED


def test_it_refuses_decisions_by_non_support_staff(finance, alice, submission):
    from django.core.exceptions import PermissionDenied

    for user in (finance, alice):
        with pytest.raises(PermissionDenied):
            services.kyc_submission_approve(submission=submission, actor=user)
