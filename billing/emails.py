"""One function per email that billing sends."""

from django.conf import settings

from infer.mail import send_templated

from .money import format_usd


def send_low_balance(*, notification, recipients: list[str]) -> None:
    send_templated(
        to=recipients,
        template="low_balance",
        context={
            "account": notification.account,
            "threshold": format_usd(notification.threshold_nanos),
            "balance": format_usd(notification.balance_nanos),
            "add_funds_url": f"{settings.SITE_URL}/funds/",
        },
    )
