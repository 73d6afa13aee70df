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


@shared_task
def chain_scan(network: str):
    """Scan one network for USDC deposits (a beat entry per network); a no-op without its RPC URL."""
    from .chains import scanning

    report = scanning.chain_scan(network=network)
    return None if report is None else report.__dict__


@shared_task
def deposit_addresses_ensure(account_id: int):
    """Derive an Account's deposit addresses where the seed lives (the deposit worker, for Solana)."""
    from accounts.models import Account

    from .chains.services import deposit_addresses_ensure as ensure

    return [a.address for a in ensure(account=Account.objects.get(id=account_id))]


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
