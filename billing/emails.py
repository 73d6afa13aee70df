"""One function per email that billing sends."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from .money import format_usd


def send_low_balance(*, notification, recipients: list[str]) -> None:
    context = {
        "site_url": settings.SITE_URL,
        "account": notification.account,
        "threshold": format_usd(notification.threshold_nanos),
        "balance": format_usd(notification.balance_nanos),
        "add_funds_url": f"{settings.SITE_URL}/funds/",
    }
    subject = render_to_string("emails/low_balance_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string("emails/low_balance.txt", context), to=recipients
    )
    message.attach_alternative(render_to_string("emails/low_balance.html", context), "text/html")
    message.send()
