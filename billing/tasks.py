"""Celery tasks for billing: thin wrappers over services."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import mail_admins

from . import services
from .checks import ledger_check

log = logging.getLogger(__name__)


@shared_task
def ledger_rollup():
    return services.ledger_rollup()


@shared_task
def holds_expire():
    return services.holds_expire()


@shared_task
def ledger_check_task():
    report = ledger_check()
    if not report.ok:
        log.error("Ledger check failed: %s", report.problems)
        if settings.ADMINS:
            mail_admins("Ledger check FAILED", "\n".join(report.problems))
    return report.ok


@shared_task(bind=True, max_retries=8, acks_late=True)
def alert_email_send(self, notification_id):
    from .alerts import EmailNotSent, alert_email_deliver

    try:
        return alert_email_deliver(notification_id=notification_id)
    except EmailNotSent as exc:
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc


@shared_task
def alerts_email_sweep():
    from .alerts import alerts_email_sweep as sweep

    ids = sweep()
    for notification_id in ids:
        alert_email_send.delay(notification_id)
    return len(ids)
