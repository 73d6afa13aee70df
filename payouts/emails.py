"""One function per email payouts sends: each status change of a payout, and destination changes."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from accounts.models import Membership
from billing.money import format_usd

from .models import Payout


def _recipients(account) -> list[str]:
    """The people who can act on payouts: the account's owners and admins."""
    return list(
        Membership.objects.filter(account=account, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN])
        .order_by("id")
        .values_list("user__email", flat=True)
    )


def _send(*, account, template: str, context: dict) -> None:
    to = _recipients(account)
    if not to:
        return
    context = {"site_url": settings.SITE_URL, **context}
    subject = render_to_string(f"emails/payouts/{template}_subject.txt", context).strip()
    text = render_to_string(f"emails/payouts/{template}.txt", context)
    html = render_to_string(f"emails/payouts/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=to)
    message.attach_alternative(html, "text/html")
    message.send()


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
