"""Templated email: each email has a subject, a text and an HTML template under templates/emails/."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def send_templated(*, to, template: str, context: dict) -> None:
    """Render emails/<template>_subject.txt, .txt and .html with `site_url` and send to `to` (if any)."""
    to = list(to)
    if not to:
        return
    context = {"site_url": settings.SITE_URL, **context}
    subject = render_to_string(f"emails/{template}_subject.txt", context).strip()
    message = EmailMultiAlternatives(subject=subject, body=render_to_string(f"emails/{template}.txt", context), to=to)
    message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    message.send()
