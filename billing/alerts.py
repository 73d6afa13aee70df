"""Low-balance alerts: which thresholds a balance change crossed, recorded once, delivered after commit.

A ledger batch knows each buyer balance before and after it (read under the row lock), so a
downward crossing is seen by exactly one batch however many requests run at once, and rising back
above a threshold re-arms it without any stored state. Costs nothing unless a threshold is crossed.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F as models_F

from .models import Notification

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Threshold:
    nanos: int
    email: bool
    desktop: bool
    inclusive: bool  # "at or below" (the $0 line) rather than "below"

    def crossed(self, before: int, after: int) -> bool:
        if self.inclusive:
            return before > self.nanos >= after
        return before >= self.nanos > after


def thresholds() -> list[Threshold]:
    """Below $5: email; below $1: email and desktop; at or below $0: desktop (the API answers 402)."""
    return [
        Threshold(settings.LOW_BALANCE_EMAIL_NANOS, email=True, desktop=False, inclusive=False),
        Threshold(settings.LOW_BALANCE_DESKTOP_NANOS, email=True, desktop=True, inclusive=False),
        Threshold(0, email=False, desktop=True, inclusive=True),
    ]


def alerts_record(*, changes: dict[int, tuple[int, int, int]]) -> list[Notification]:
    """Record a Notification per threshold crossed downward; `changes` maps a buyer ledger account to
    (owner Account id, balance before, balance after). Runs inside the ledger's transaction."""
    rows = []
    levels = None
    for owner_id, before, after in changes.values():
        if after >= before:
            continue
        levels = levels or thresholds()
        for level in levels:
            if level.crossed(before, after):
                rows.append(
                    Notification(
                        account_id=owner_id,
                        kind=Notification.Kind.BALANCE_DEPLETED if level.inclusive else Notification.Kind.LOW_BALANCE,
                        threshold_nanos=level.nanos,
                        balance_nanos=after,
                        desktop=level.desktop,
                        email_status=Notification.EmailStatus.PENDING if level.email else Notification.EmailStatus.NONE,
                    )
                )
    if not rows:
        return []
    created = Notification.objects.bulk_create(rows)
    transaction.on_commit(lambda: alerts_dispatch(notifications=created))
    return created


def alerts_dispatch(*, notifications) -> None:
    """After commit: wake event streams and queue the emails. Never raises into the request path."""
    from . import tasks
    from .streams import notification_publish

    for notification in notifications:
        try:
            notification_publish(account_id=notification.account_id, notification_id=notification.id)
        except Exception:  # a down Redis must not stop billing; streams also poll the database
            log.warning("could not publish notification %s", notification.id, exc_info=True)
        if notification.email_status == Notification.EmailStatus.PENDING:
            try:
                tasks.alert_email_send.delay(notification.id)
            except Exception:
                # The broker is down: the periodic sweep (alerts_email_sweep) sends it later.
                log.warning("could not queue email for notification %s", notification.id, exc_info=True)


MAX_EMAIL_ATTEMPTS = 8


class EmailNotSent(Exception):
    """SMTP failed; the notification is pending again and the task retries it."""


def alert_recipients(*, account_id: int) -> list[str]:
    """Owners and admins of the Account who have not turned low-balance emails off."""
    from accounts.selectors import account_manager_emails

    from .models import AlertPreference

    opted_out = set(
        AlertPreference.objects.filter(account_id=account_id, low_balance_email=False).values_list(
            "user__email", flat=True
        )
    )
    return [email for email in account_manager_emails(account=account_id) if email not in opted_out]


def alert_email_deliver(*, notification_id: int) -> str:
    """Send a notification's email at most once: claim it with a conditional UPDATE, send outside any
    transaction, then mark it sent; on an SMTP failure put it back to pending and raise EmailNotSent."""
    from django.utils import timezone

    from .emails import send_low_balance

    claimed = Notification.objects.filter(id=notification_id, email_status=Notification.EmailStatus.PENDING).update(
        email_status=Notification.EmailStatus.SENDING, email_attempts=models_F("email_attempts") + 1
    )
    if not claimed:
        return "not pending"
    notification = Notification.objects.select_related("account").get(id=notification_id)
    recipients = alert_recipients(account_id=notification.account_id)
    if not recipients:
        Notification.objects.filter(id=notification_id).update(email_status=Notification.EmailStatus.NONE)
        return "no recipients"
    try:
        send_low_balance(notification=notification, recipients=recipients)
    except Exception as exc:
        status = (
            Notification.EmailStatus.FAILED
            if notification.email_attempts >= MAX_EMAIL_ATTEMPTS
            else Notification.EmailStatus.PENDING
        )
        Notification.objects.filter(id=notification_id).update(email_status=status)
        raise EmailNotSent(str(exc)) from exc
    Notification.objects.filter(id=notification_id).update(
        email_status=Notification.EmailStatus.SENT, emailed_at=timezone.now()
    )
    return "sent"


def alerts_email_sweep(*, older_than_seconds: int = 60, stuck_seconds: int = 900) -> list[int]:
    """Pending emails whose task was lost (broker down) are queued again. A send that died between
    SMTP and marking it sent stays 'sending' for `stuck_seconds`, then is retried: at worst a
    duplicate after a crash, never a silent loss."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    Notification.objects.filter(
        email_status=Notification.EmailStatus.SENDING, created_at__lt=now - timedelta(seconds=stuck_seconds)
    ).update(email_status=Notification.EmailStatus.PENDING)
    return list(
        Notification.objects.filter(
            email_status=Notification.EmailStatus.PENDING, created_at__lt=now - timedelta(seconds=older_than_seconds)
        ).values_list("id", flat=True)[:500]
    )


def notifications_mark_read(*, account, ids=None) -> int:
    from django.utils import timezone

    qs = Notification.objects.filter(account=account, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(id__in=ids)
    return qs.update(read_at=timezone.now())


def alert_preference_set(*, user, account, low_balance_email: bool) -> None:
    from .models import AlertPreference

    AlertPreference.objects.update_or_create(
        user=user, account=account, defaults={"low_balance_email": bool(low_balance_email)}
    )
