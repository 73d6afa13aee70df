"""Retention: KYC documents are erased a configurable time after their Account closes."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import Account
from kyc import services
from kyc.models import KYCDocument, KYCEvent
from kyc.tasks import kyc_documents_retention_task


def _close(account, days_ago):
    Account.objects.filter(pk=account.pk).update(
        status=Account.Status.CLOSED, closed_at=timezone.now() - timedelta(days=days_ago)
    )


def test_it_erases_documents_once_the_retention_has_passed(submission, operator, private_root, settings):
    settings.KYC_DOCUMENT_RETENTION_DAYS = 30
    path = private_root / submission.documents.get().file.name
    _close(operator, days_ago=31)
    assert kyc_documents_retention_task() == 1
    document = KYCDocument.objects.get()
    assert not path.exists()
    assert document.deleted_reason == "retention" and document.deleted_at is not None
    assert document.file.name == ""
    assert KYCEvent.objects.filter(action="documents_erased", submission=submission).exists()
    assert services.kyc_documents_erase_expired() == 0  # nothing left to erase


def test_it_keeps_documents_within_the_retention(submission, operator, private_root, settings):
    settings.KYC_DOCUMENT_RETENTION_DAYS = 30
    _close(operator, days_ago=29)
    assert services.kyc_documents_erase_expired() == 0
    assert (private_root / KYCDocument.objects.get().file.name).is_file()


def test_it_keeps_documents_of_open_accounts(submission, private_root, settings):
    settings.KYC_DOCUMENT_RETENTION_DAYS = 0
    assert services.kyc_documents_erase_expired() == 0
    assert KYCDocument.objects.get().deleted_at is None


def test_it_runs_daily_from_beat():
    schedule = settings.CELERY_BEAT_SCHEDULE["kyc-documents-retention"]
    assert schedule["task"] == "kyc.tasks.kyc_documents_retention_task"
    assert settings.CELERY_BEAT_SCHEDULE["kyc-metering-check"]["task"] == "kyc.tasks.metering_disagreements_check_task"
