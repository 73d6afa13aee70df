"""KYC submissions and their private documents, violations against operators, and the staff audit log."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .countries import COUNTRIES
from .storage import private_storage


class KYCSubmission(models.Model):
    """An operator Account's identity verification: one per Account, re-submitted after a rejection."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        SUBMITTED = "submitted"
        APPROVED = "approved"
        REJECTED = "rejected"
        RESUBMITTED = "resubmitted"

    PENDING = (Status.SUBMITTED, Status.RESUBMITTED)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.OneToOneField("accounts.Account", on_delete=models.CASCADE, related_name="kyc_submission")
    legal_name = models.CharField(max_length=200, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    country = models.CharField(max_length=2, choices=COUNTRIES, blank=True)
    address = models.TextField(max_length=500, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    # The reason of the last rejection: shown to the operator until the next decision.
    rejection_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)  # the latest (re)submission
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "KYC submission"
        permissions = [("review_kycsubmission", "Can approve or reject KYC submissions")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""), name="kycsubmission_rejection_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(submitted_at__isnull=False), name="kycsubmission_submitted_has_time"
            ),
        ]
        indexes = [
            # The review queue: pending submissions, oldest first.
            models.Index(fields=["status", "submitted_at"], name="kycsubmission_queue"),
        ]

    def __str__(self):
        return f"KYC of {self.account}"

    @property
    def is_pending(self):
        return self.status in self.PENDING

    @property
    def is_editable(self):
        """The operator may change it while a draft or after a rejection; never under review or approved."""
        return self.status in (self.Status.DRAFT, self.Status.REJECTED)


class KYCDocument(models.Model):
    """A private file of a submission. Stored under PRIVATE_MEDIA_ROOT with a random name; the
    uploader's file name is never kept, so it cannot leak into logs or URLs."""

    class Kind(models.TextChoices):
        IDENTITY = "identity", "Identity document"
        SELFIE = "selfie", "Selfie"

    class ContentType(models.TextChoices):
        JPEG = "image/jpeg", "JPEG"
        PNG = "image/png", "PNG"
        PDF = "application/pdf", "PDF"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    submission = models.ForeignKey(KYCSubmission, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    file = models.FileField(storage=private_storage, max_length=200, blank=True)
    content_type = models.CharField(max_length=20, choices=ContentType.choices)
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Replaced by a newer upload, or erased by the retention task: the row stays, the file is gone.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_reason = models.CharField(max_length=50, blank=True)

    class Meta:
        verbose_name = "KYC document"
        constraints = [
            # At most one live document of each kind per submission.
            models.UniqueConstraint(
                fields=["submission", "kind"],
                condition=Q(deleted_at__isnull=True),
                name="kycdocument_one_live_per_kind",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.get_content_type_display()})"

    @property
    def is_image(self):
        return self.content_type in (self.ContentType.JPEG, self.ContentType.PNG)

    @property
    def extension(self):
        return {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}[self.content_type]


class KYCEvent(models.Model):
    """The history of a submission: each (re)submission and each staff decision, append-only."""

    class Action(models.TextChoices):
        SUBMITTED = "submitted"
        RESUBMITTED = "resubmitted"
        APPROVED = "approved"
        REJECTED = "rejected"
        DOCUMENTS_ERASED = "documents_erased", "Documents erased (retention)"

    submission = models.ForeignKey(KYCSubmission, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "KYC history entry"
        verbose_name_plural = "KYC history"
        ordering = ["created_at", "id"]


class Violation(models.Model):
    """A breach of the rules by an operator Account. Open ones block payouts; high ones stop routing."""

    class Kind(models.TextChoices):
        METERING_DISAGREEMENT = "metering_disagreement", "Metering disagreement"
        INVALID_OUTPUT = "invalid_output", "Invalid output"
        ABUSE = "abuse", "Abuse"
        CHARGEBACK_FRAUD = "chargeback_fraud", "Chargeback fraud"
        OTHER = "other", "Other"

    class Severity(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="violations")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    evidence = models.TextField()
    # Request ids of the usage records that support it (the gateway's UsageRecord.request_id).
    usage_request_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    is_automatic = models.BooleanField(default=False)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filed_at = models.DateTimeField(default=timezone.now)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    # Whether filing it took the operator's nodes out of routing (so resolving knows to restore them).
    nodes_suspended = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open", resolved_at__isnull=True)
                | Q(status="resolved", resolved_at__isnull=False) & ~Q(resolution=""),
                name="violation_resolved_has_time_and_note",
            ),
            # The automatic check files at most one open metering violation per operator.
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status="open", is_automatic=True, kind="metering_disagreement"),
                name="violation_one_open_automatic_metering",
            ),
        ]
        indexes = [
            # Payout eligibility and routing: "does this Account have an open (high) violation?"
            models.Index(fields=["account", "severity"], condition=Q(status="open"), name="violation_open"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.severity}) against {self.account}"


class LedgerAdjustment(models.Model):
    """A manual correction of a balance by finance staff: the reason and who posted it."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    ledger_account = models.ForeignKey("billing.LedgerAccount", on_delete=models.PROTECT, related_name="+")
    amount_nanos = models.BigIntegerField()
    reason = models.TextField()
    transaction = models.OneToOneField("billing.Transaction", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount_nanos=0), name="ledgeradjustment_amount_not_zero"),
            models.CheckConstraint(condition=~Q(reason=""), name="ledgeradjustment_has_reason"),
        ]

    def __str__(self):
        return f"Adjustment {self.code}"


class StaffAction(models.Model):
    """The audit log: who did what to which object, when, and why. Written by services, never edited."""

    class Action(models.TextChoices):
        KYC_DOCUMENT_VIEWED = "kyc_document_viewed", "Viewed a KYC document"
        KYC_APPROVED = "kyc_approved", "Approved KYC"
        KYC_REJECTED = "kyc_rejected", "Rejected KYC"
        VIOLATION_FILED = "violation_filed", "Filed a violation"
        VIOLATION_RESOLVED = "violation_resolved", "Resolved a violation"
        LEDGER_ADJUSTED = "ledger_adjusted", "Adjusted a balance"
        ADMIN_CHANGE = "admin_change", "Changed an object in the admin"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=30, choices=Action.choices)
    object_type = models.CharField(max_length=100)  # "app_label.model"
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # "Who looked at this document / touched this object?"
            models.Index(fields=["object_type", "object_id", "-created_at"], name="staffaction_object"),
        ]

    def __str__(self):
        return f"{self.actor} {self.get_action_display().lower()} {self.object_repr}"
