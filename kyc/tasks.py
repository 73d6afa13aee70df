"""Celery tasks for kyc: thin wrappers over services (decision emails, the metering check, retention)."""

from celery import shared_task

from . import emails, services
from .models import KYCSubmission


@shared_task
def kyc_decision_email_send(submission_id: int, decision: str):
    submission = KYCSubmission.objects.select_related("account").filter(id=submission_id).first()
    if submission is None:
        return
    if decision == KYCSubmission.Status.APPROVED:
        emails.send_kyc_approved(submission)
    elif decision == KYCSubmission.Status.REJECTED:
        emails.send_kyc_rejected(submission)


@shared_task
def metering_disagreements_check_task():
    return [str(v.code) for v in services.metering_disagreements_check()]


@shared_task
def kyc_documents_retention_task():
    return services.kyc_documents_erase_expired()
