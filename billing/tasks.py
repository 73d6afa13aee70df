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
