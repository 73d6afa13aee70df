"""One function per email that kyc sends: the operator hears of each KYC decision."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from accounts.models import Membership


def _recipients(account) -> list[str]:
    """The people who can act on the decision: the Account's owners and admins."""
    return sorted(
        Membership.objects.filter(
            account=account, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN], user__is_active=True
        ).values_list("user__email", flat=True)
    )


def _send(*, to, template: str, context: dict) -> None:
    if not to:
        return
    context = {"site_url": settings.SITE_URL, **context}
    subject = render_to_string(f"emails/{template}_subject.txt", context).strip()
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=list(to))
    message.attach_alternative(html, "text/html")
    message.send()


def send_kyc_approved(submission) -> None:
    _send(to=_recipients(submission.account), template="kyc_approved", context={"submission": submission})


def send_kyc_rejected(submission) -> None:
    _send(to=_recipients(submission.account), template="kyc_rejected", context={"submission": submission})
