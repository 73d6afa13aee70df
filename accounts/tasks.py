"""Celery tasks for accounts: thin wrappers that send its emails outside the request."""

from celery import shared_task

from . import emails
from .models import Invitation


@shared_task
def invitation_send(invitation_id: int) -> None:
    invitation = Invitation.objects.select_related("account", "invited_by").filter(id=invitation_id).first()
    if invitation is not None and invitation.is_open:
        emails.send_invitation(invitation)
