"""Writes for KYC and violations: submissions and documents, staff decisions, violations, adjustments,
retention, and the audit log every staff action goes into."""

import hashlib
import logging
import uuid
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Account
from billing.models import LedgerAccount, Transaction
from billing.services import system_ledger_account_id, transaction_post
from infer.errors import ApplicationError

from .countries import COUNTRY_NAMES
from .models import KYCDocument, KYCEvent, KYCSubmission, LedgerAdjustment, StaffAction, Violation
from .storage import private_storage

logger = logging.getLogger(__name__)

# What the first bytes of each accepted file type are; anything else is refused.
MAGIC = [
    (b"\xff\xd8\xff", KYCDocument.ContentType.JPEG),
    (b"\x89PNG\r\n\x1a\n", KYCDocument.ContentType.PNG),
    (b"%PDF-", KYCDocument.ContentType.PDF),
]
MIN_AGE_YEARS = 18
EVIDENCE_LINKS = 50  # usage records linked from an automatic violation


class KYCError(ApplicationError):
    """A KYC or violation request that cannot be done as asked; `field` names the form field at fault."""

    def __init__(self, message, *, code="kyc_invalid", field=None, status_code=400):
        super().__init__(message, code=code, status_code=status_code)
        self.field = field


# --- Audit log --------------------------------------------------------------------------------------


def staff_action_record(*, actor, action: str, obj, reason: str = "") -> StaffAction:
    """Write one line of the audit log: who did `action` to `obj`, and why."""
    return StaffAction.objects.create(
        actor=actor,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        reason=reason,
    )


# --- Documents --------------------------------------------------------------------------------------


def kyc_document_check(upload) -> str:
    """Type (by magic bytes, never by name or declared type) and size of an upload; its content type."""
    limit = settings.KYC_MAX_DOCUMENT_BYTES
    if upload.size == 0:
        raise KYCError("The file is empty.", code="document_empty")
    if upload.size > limit:
        raise KYCError(
            f"The file is too large ({upload.size / 1_048_576:.1f} MB): the limit is {limit / 1_048_576:.0f} MB.",
            code="document_too_large",
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for magic, content_type in MAGIC:
        if head.startswith(magic):
            return content_type
    raise KYCError("Upload a JPEG, PNG or PDF file; this file is none of those.", code="document_type")


def _document_store(*, submission, kind, upload, user, content_type) -> tuple[KYCDocument, str]:
    """Write the file under a random name (the uploader's name is never kept) and build its row."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    document = KYCDocument(
        submission=submission,
        kind=kind,
        content_type=content_type,
        size_bytes=upload.size,
        sha256=digest.hexdigest(),
        uploaded_by=user,
    )
    name = private_storage.save(f"kyc/{submission.code}/{document.code}.{document.extension}", upload)
    document.file.name = name
    return document, name


def _document_erase(document: KYCDocument, *, reason: str, now) -> None:
    if document.file.name:
        private_storage.delete(document.file.name)
    KYCDocument.objects.filter(pk=document.pk).update(file="", deleted_at=now, deleted_reason=reason)


# --- Submissions ------------------------------------------------------------------------------------


def _operator_account_check(account: Account) -> None:
    if not account.is_operator:
        raise KYCError("Identity verification is for operator accounts.", code="not_operator", status_code=404)


def kyc_submission_get_or_create(*, account: Account) -> KYCSubmission:
    _operator_account_check(account)
    submission, _ = KYCSubmission.objects.get_or_create(account=account)
    return submission


def _fields_validate(*, legal_name, date_of_birth, country, address, today: date) -> None:
    if legal_name and len(legal_name) > 200:
        raise KYCError("The legal name is at most 200 characters.", field="legal_name")
    if address and len(address) > 500:
        raise KYCError("The address is at most 500 characters.", field="address")
    if country and country not in COUNTRY_NAMES:
        raise KYCError("Choose a country from the list.", field="country")
    if date_of_birth is not None:
        if date_of_birth >= today:
            raise KYCError("The date of birth must be in the past.", field="date_of_birth")
        try:
            adult_on = date_of_birth.replace(year=date_of_birth.year + MIN_AGE_YEARS)
        except ValueError:  # born on 29 February
            adult_on = date(date_of_birth.year + MIN_AGE_YEARS, 3, 1)
        if adult_on > today:
            raise KYCError(f"Operators must be at least {MIN_AGE_YEARS} years old.", field="date_of_birth")
        if date_of_birth.year < 1900:
            raise KYCError("Check the date of birth: the year looks wrong.", field="date_of_birth")


def kyc_submission_update(
    *,
    account: Account,
    user,
    legal_name: str = "",
    date_of_birth: date | None = None,
    country: str = "",
    address: str = "",
    identity_document=None,
    selfie=None,
    submit: bool = False,
) -> KYCSubmission:
    """Save the operator's details and any new documents; with `submit`, send them for review.

    Files are checked before anything is written; they are written to disk before the database
    transaction and removed again if it fails, so no row ever points at a missing file.
    """
    _operator_account_check(account)
    legal_name = (legal_name or "").strip()
    address = (address or "").strip()
    country = (country or "").strip().upper()
    _fields_validate(
        legal_name=legal_name,
        date_of_birth=date_of_birth,
        country=country,
        address=address,
        today=timezone.localdate(),
    )
    uploads = {}
    for kind, upload, field in (
        (KYCDocument.Kind.IDENTITY, identity_document, "identity_document"),
        (KYCDocument.Kind.SELFIE, selfie, "selfie"),
    ):
        if upload is not None:
            try:
                uploads[kind] = (upload, kyc_document_check(upload))
            except KYCError as exc:
                exc.field = field
                raise

    submission = kyc_submission_get_or_create(account=account)
    if not submission.is_editable:
        raise KYCError(_not_editable_message(submission), code="kyc_locked", status_code=409)

    written = []
    try:
        new_documents = []
        for kind, (upload, content_type) in uploads.items():
            document, name = _document_store(
                submission=submission, kind=kind, upload=upload, user=user, content_type=content_type
            )
            written.append(name)
            new_documents.append(document)
        replaced = _submission_save(
            submission=submission,
            user=user,
            fields={"legal_name": legal_name, "date_of_birth": date_of_birth, "country": country, "address": address},
            new_documents=new_documents,
            submit=submit,
        )
    except Exception:
        for name in written:
            private_storage.delete(name)
        raise
    # The old files of replaced documents go only once the new ones are committed.
    for name in replaced:
        private_storage.delete(name)
    submission.refresh_from_db()
    return submission


def _not_editable_message(submission: KYCSubmission) -> str:
    if submission.status == KYCSubmission.Status.APPROVED:
        return "Your identity is verified; the details can no longer be changed here. Contact support to update them."
    return "Your details are under review and cannot be changed until staff decide."


@transaction.atomic
def _submission_save(*, submission, user, fields, new_documents, submit) -> list[str]:
    # Lock the submission: a staff decision or a second browser tab must not interleave with this save.
    submission = KYCSubmission.objects.select_for_update().get(pk=submission.pk)
    if not submission.is_editable:
        raise KYCError(_not_editable_message(submission), code="kyc_locked", status_code=409)
    now = timezone.now()
    replaced = []
    for document in new_documents:
        old = submission.documents.select_for_update().filter(kind=document.kind, deleted_at__isnull=True).first()
        if old is not None:
            replaced.append(old.file.name)
            KYCDocument.objects.filter(pk=old.pk).update(file="", deleted_at=now, deleted_reason="replaced")
        document.save()
    for name, value in fields.items():
        setattr(submission, name, value)
    submission.updated_at = now
    update_fields = [*fields, "updated_at"]
    if submit:
        missing = _missing_for_submission(submission)
        if missing:
            raise KYCError(missing[1], code="kyc_incomplete", field=missing[0])
        resubmission = submission.status == KYCSubmission.Status.REJECTED
        submission.status = KYCSubmission.Status.RESUBMITTED if resubmission else KYCSubmission.Status.SUBMITTED
        submission.submitted_at = now
        update_fields += ["status", "submitted_at"]
        KYCEvent.objects.create(
            submission=submission,
            action=KYCEvent.Action.RESUBMITTED if resubmission else KYCEvent.Action.SUBMITTED,
            actor=user,
            created_at=now,
        )
    submission.save(update_fields=update_fields)
    return [name for name in replaced if name]


def _missing_for_submission(submission) -> tuple[str, str] | None:
    if not submission.legal_name:
        return "legal_name", "Enter your legal name as it appears on your identity document."
    if submission.date_of_birth is None:
        return "date_of_birth", "Enter your date of birth."
    if not submission.country:
        return "country", "Choose your country of residence."
    if not submission.address:
        return "address", "Enter your address."
    if not submission.documents.filter(kind=KYCDocument.Kind.IDENTITY, deleted_at__isnull=True).exists():
        return "identity_document", "Upload an identity document (passport, national ID card or driving licence)."
    return None


def _reviewer_check(actor) -> None:
    if not (actor and actor.is_active and actor.is_staff and actor.has_perm("kyc.review_kycsubmission")):
        raise PermissionDenied("Only support staff review KYC submissions")


@transaction.atomic
def kyc_submission_approve(*, submission: KYCSubmission, actor) -> KYCSubmission:
    """Approve a pending submission; the operator is emailed after commit."""
    _reviewer_check(actor)
    # Lock: two reviewers deciding the same submission at once must not both win.
    submission = KYCSubmission.objects.select_for_update().get(pk=submission.pk)
    if not submission.is_pending:
        raise KYCError(f"Only a pending submission can be approved; this one is {submission.status}.", status_code=409)
    now = timezone.now()
    submission.status = KYCSubmission.Status.APPROVED
    submission.rejection_reason = ""
    submission.decided_at = now
    submission.decided_by = actor
    submission.save(update_fields=["status", "rejection_reason", "decided_at", "decided_by"])
    KYCEvent.objects.create(submission=submission, action=KYCEvent.Action.APPROVED, actor=actor, created_at=now)
    staff_action_record(actor=actor, action=StaffAction.Action.KYC_APPROVED, obj=submission)
    _decision_email_queue(submission)
    return submission


@transaction.atomic
def kyc_submission_reject(*, submission: KYCSubmission, actor, reason: str) -> KYCSubmission:
    """Reject a pending submission with a reason the operator sees; the operator is emailed."""
    _reviewer_check(actor)
    reason = (reason or "").strip()
    if not reason:
        raise KYCError("Give a reason: the operator sees it and needs it to fix the submission.", field="reason")
    submission = KYCSubmission.objects.select_for_update().get(pk=submission.pk)
    if not submission.is_pending:
        raise KYCError(f"Only a pending submission can be rejected; this one is {submission.status}.", status_code=409)
    now = timezone.now()
    submission.status = KYCSubmission.Status.REJECTED
    submission.rejection_reason = reason
    submission.decided_at = now
    submission.decided_by = actor
    submission.save(update_fields=["status", "rejection_reason", "decided_at", "decided_by"])
    KYCEvent.objects.create(
        submission=submission, action=KYCEvent.Action.REJECTED, actor=actor, reason=reason, created_at=now
    )
    staff_action_record(actor=actor, action=StaffAction.Action.KYC_REJECTED, obj=submission, reason=reason)
    _decision_email_queue(submission)
    return submission


def _decision_email_queue(submission) -> None:
    from .tasks import kyc_decision_email_send

    decision = submission.status
    transaction.on_commit(lambda: kyc_decision_email_send.delay(submission.id, decision))


def kyc_document_view_record(*, document: KYCDocument, actor) -> StaffAction:
    """Record that a staff member opened a document (called by the view before it serves the file)."""
    return staff_action_record(actor=actor, action=StaffAction.Action.KYC_DOCUMENT_VIEWED, obj=document)


# --- Retention --------------------------------------------------------------------------------------


def kyc_documents_erase_expired(*, now=None) -> int:
    """Erase the KYC documents of Accounts closed longer ago than KYC_DOCUMENT_RETENTION_DAYS."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.KYC_DOCUMENT_RETENTION_DAYS)
    documents = KYCDocument.objects.filter(
        deleted_at__isnull=True,
        submission__account__status=Account.Status.CLOSED,
        submission__account__closed_at__lte=cutoff,
    ).order_by("id")
    erased = 0
    submissions = set()
    for document in documents.iterator():
        _document_erase(document, reason="retention", now=now)
        submissions.add(document.submission_id)
        erased += 1
    for submission_id in sorted(submissions):
        KYCEvent.objects.create(submission_id=submission_id, action=KYCEvent.Action.DOCUMENTS_ERASED, created_at=now)
    if erased:
        logger.info("KYC retention: erased %d documents of %d closed accounts", erased, len(submissions))
    return erased


# --- Violations -------------------------------------------------------------------------------------


def _nodes_suspend(*, account, reason: str) -> int:
    """Take the operator's nodes out of routing (usage owns nodes and routing); how many were active."""
    from usage.services import operator_nodes_suspend

    return operator_nodes_suspend(account=account, reason=reason)


def _nodes_restore(*, account) -> int:
    from usage.services import operator_nodes_restore

    return operator_nodes_restore(account=account)


def _request_ids_clean(ids) -> list[str]:
    cleaned = []
    for item in ids or ():
        text = str(item).strip()
        if not text:
            continue
        if len(text) > 64:
            raise KYCError("A usage request id is at most 64 characters.", field="usage_request_ids")
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


@transaction.atomic
def violation_file(
    *,
    account: Account,
    kind: str,
    severity: str,
    evidence: str,
    usage_request_ids=(),
    filed_by=None,
    is_automatic: bool = False,
) -> Violation:
    """File a violation against an operator. A high one takes its nodes out of routing at once."""
    if kind not in Violation.Kind.values:
        raise KYCError(f"Unknown violation kind {kind!r}.", field="kind")
    if severity not in Violation.Severity.values:
        raise KYCError(f"Unknown severity {severity!r}.", field="severity")
    evidence = (evidence or "").strip()
    if not evidence:
        raise KYCError("Describe the evidence: what happened, when, and where to look.", field="evidence")
    if filed_by is None and not is_automatic:
        raise KYCError("A violation is filed by a staff member or by an automatic check.")
    violation = Violation.objects.create(
        account=account,
        kind=kind,
        severity=severity,
        evidence=evidence,
        usage_request_ids=_request_ids_clean(usage_request_ids),
        filed_by=filed_by,
        is_automatic=is_automatic,
    )
    if filed_by is not None:
        staff_action_record(actor=filed_by, action=StaffAction.Action.VIOLATION_FILED, obj=violation)
    if severity == Violation.Severity.HIGH:
        # In the same transaction: the violation and the suspension stand or fall together.
        _nodes_suspend(account=account, reason=f"violation:{violation.code}")
        violation.nodes_suspended = True
        violation.save(update_fields=["nodes_suspended"])
    return violation


@transaction.atomic
def violation_resolve(*, violation: Violation, actor, resolution: str) -> Violation:
    """Resolve an open violation with a note; nodes come back when no open high violation remains."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise KYCError("Say how it was resolved.", field="resolution")
    violation = Violation.objects.select_for_update().get(pk=violation.pk)
    if violation.status != Violation.Status.OPEN:
        raise KYCError("This violation is already resolved.", status_code=409)
    violation.status = Violation.Status.RESOLVED
    violation.resolved_by = actor
    violation.resolved_at = timezone.now()
    violation.resolution = resolution
    violation.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
    staff_action_record(actor=actor, action=StaffAction.Action.VIOLATION_RESOLVED, obj=violation, reason=resolution)
    still_high = Violation.objects.filter(
        account_id=violation.account_id, status=Violation.Status.OPEN, severity=Violation.Severity.HIGH
    ).exists()
    if violation.nodes_suspended and not still_high:
        _nodes_restore(account=violation.account)
    return violation


def _request_id_of(record) -> str:
    return str(getattr(record, "request_id", None) or record.pk)


def metering_violation_consider(*, account: Account, disagreements, now=None) -> Violation | None:
    """The rule: `disagreements` (the operator's disputed usage records within the window) at or over
    KYC_METERING_DISAGREEMENTS_THRESHOLD files one automatic violation, unless one is open already."""
    if isinstance(disagreements, QuerySet):
        count = disagreements.count()
        records = list(disagreements[:EVIDENCE_LINKS])
    else:
        records = list(disagreements)
        count = len(records)
        records = records[:EVIDENCE_LINKS]
    threshold = settings.KYC_METERING_DISAGREEMENTS_THRESHOLD
    if count < threshold:
        return None
    if Violation.objects.filter(
        account=account, status=Violation.Status.OPEN, is_automatic=True, kind=Violation.Kind.METERING_DISAGREEMENT
    ).exists():
        return None
    hours = settings.KYC_METERING_WINDOW_SECONDS / 3600
    evidence = (
        f"{count} usage records in the last {hours:g} hours where the node's reported token counts disagreed "
        f"with the platform's count (threshold {threshold}). The first {len(records)} are linked."
    )
    try:
        with transaction.atomic():
            return violation_file(
                account=account,
                kind=Violation.Kind.METERING_DISAGREEMENT,
                severity=settings.KYC_METERING_VIOLATION_SEVERITY,
                evidence=evidence,
                usage_request_ids=[_request_id_of(r) for r in records],
                is_automatic=True,
            )
    except IntegrityError:
        return None  # a concurrent run filed it first (the partial unique constraint)


def metering_disagreements_check(*, now=None) -> list[Violation]:
    """The periodic check over every active operator (usage.selectors provides the disputed records)."""
    from usage import selectors as usage_selectors

    now = now or timezone.now()
    since = now - timedelta(seconds=settings.KYC_METERING_WINDOW_SECONDS)
    filed = []
    operators = Account.objects.filter(is_operator=True, status=Account.Status.ACTIVE).order_by("id")
    for account in operators.iterator():
        disagreements = usage_selectors.metering_disagreements(operator_account=account, since=since)
        violation = metering_violation_consider(account=account, disagreements=disagreements, now=now)
        if violation is not None:
            filed.append(violation)
    return filed


# --- Manual ledger adjustments ----------------------------------------------------------------------


@transaction.atomic
def ledger_adjustment_post(*, ledger_account: LedgerAccount, amount_nanos: int, reason: str, actor) -> LedgerAdjustment:
    """Credit (positive) or debit (negative) a ledger account against the platform's adjustments
    account, with a required reason; posted through the ledger service under `adjustment:<uuid>`."""
    if not (actor and actor.is_active and actor.is_staff and actor.has_perm("kyc.add_ledgeradjustment")):
        raise PermissionDenied("Only finance staff adjust balances")
    reason = (reason or "").strip()
    if not reason:
        raise KYCError("Give a reason for the adjustment; it is kept with the transaction.", field="reason")
    if isinstance(amount_nanos, bool) or not isinstance(amount_nanos, int) or amount_nanos == 0:
        raise KYCError("The amount must be a non-zero amount of money.", field="amount")
    adjustments_id = system_ledger_account_id("adjustments")
    if ledger_account.id == adjustments_id:
        raise KYCError("The adjustments account itself cannot be adjusted.", field="ledger_account")
    code = uuid.uuid4()
    key = f"adjustment:{code}"
    result = transaction_post(
        idempotency_key=key,
        kind=Transaction.Kind.ADJUSTMENT,
        legs=[(ledger_account.id, amount_nanos), (adjustments_id, -amount_nanos)],
        memo=reason[:500],
        reference=key,
    )
    adjustment = LedgerAdjustment.objects.create(
        code=code,
        ledger_account=ledger_account,
        amount_nanos=amount_nanos,
        reason=reason,
        transaction_id=result.transaction_id,
        created_by=actor,
    )
    staff_action_record(actor=actor, action=StaffAction.Action.LEDGER_ADJUSTED, obj=adjustment, reason=reason)
    return adjustment
