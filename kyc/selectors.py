"""Reads for KYC and violations; the payout rules and routing ask these about an Account."""

from .models import KYCDocument, KYCSubmission, StaffAction, Violation

SUPPORT_GROUP = "support"
FINANCE_GROUP = "finance"


def kyc_verified(*, account) -> bool:
    """Whether the Account's identity is verified (its KYC submission is approved)."""
    return KYCSubmission.objects.filter(account=account, status=KYCSubmission.Status.APPROVED).exists()


def open_violations_exist(*, account) -> bool:
    """Whether any violation against the Account is open (an open violation blocks payouts)."""
    return Violation.objects.filter(account=account, status=Violation.Status.OPEN).exists()


def open_high_violations_exist(*, account) -> bool:
    return Violation.objects.filter(
        account=account, status=Violation.Status.OPEN, severity=Violation.Severity.HIGH
    ).exists()


def kyc_submission_for_account(*, account) -> KYCSubmission | None:
    return KYCSubmission.objects.filter(account=account).first()


def kyc_documents_live(*, submission) -> dict[str, KYCDocument]:
    """The submission's current documents by kind."""
    return {d.kind: d for d in submission.documents.filter(deleted_at__isnull=True)}


def kyc_review_queue():
    """Pending submissions, oldest (re)submission first."""
    return KYCSubmission.objects.filter(status__in=KYCSubmission.PENDING).order_by("submitted_at", "id")


def staff_can_open_documents(user) -> bool:
    """Only active staff in the `support` group, or superusers, may open KYC documents."""
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        return False
    return user.is_superuser or user.groups.filter(name=SUPPORT_GROUP).exists()


def kyc_document_for_staff(*, user, code) -> KYCDocument | None:
    """A live document a staff user may open; None (a 404) for anyone else or a missing/erased file."""
    if not staff_can_open_documents(user):
        return None
    return KYCDocument.objects.filter(code=code, deleted_at__isnull=True).exclude(file="").first()


def document_views(*, document):
    """Who opened a document, newest first."""
    return StaffAction.objects.filter(
        action=StaffAction.Action.KYC_DOCUMENT_VIEWED, object_type="kyc.kycdocument", object_id=str(document.pk)
    ).select_related("actor")
