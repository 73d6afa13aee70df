"""One function per email payouts sends: each status change of a payout, and destination changes."""

from accounts.selectors import account_manager_emails
from billing.money import format_usd
from infer.mail import send_templated

from .models import Payout


def _send(*, account, template: str, context: dict) -> None:
    send_templated(to=account_manager_emails(account=account), template=f"payouts/{template}", context=context)


def _payout_email(payout: Payout, template: str) -> None:
    _send(
        account=payout.account, template=template, context={"payout": payout, "amount": format_usd(payout.amount_nanos)}
    )


def send_payout_requested(payout: Payout) -> None:
    _payout_email(payout, "payout_requested")


def send_payout_approved(payout: Payout) -> None:
    _payout_email(payout, "payout_approved")


def send_payout_sent(payout: Payout) -> None:
    _payout_email(payout, "payout_sent")


def send_payout_paid(payout: Payout) -> None:
    _payout_email(payout, "payout_paid")


def send_payout_rejected(payout: Payout) -> None:
    _payout_email(payout, "payout_rejected")


def send_payout_failed(payout: Payout) -> None:
    _payout_email(payout, "payout_failed")


def send_status_email(payout: Payout, status: str) -> None:
    """The email of the status a payout moved to (it may have moved on since)."""
    {
        Payout.Status.REQUESTED: send_payout_requested,
        Payout.Status.APPROVED: send_payout_approved,
        Payout.Status.SENT: send_payout_sent,
        Payout.Status.PAID: send_payout_paid,
        Payout.Status.REJECTED: send_payout_rejected,
        Payout.Status.FAILED: send_payout_failed,
    }[status](payout)


def send_destination_added(destination) -> None:
    _send(account=destination.account, template="destination_added", context={"destination": destination})


def send_destination_changed(destination) -> None:
    _send(account=destination.account, template="destination_changed", context={"destination": destination})
