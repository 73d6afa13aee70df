"""Celery tasks for payouts: thin wrappers over the wallet and bank pipelines, and status emails."""

import logging

from celery import shared_task

from . import bank, emails, evm, stripe_transfers, wallet
from .addresses import EVM_NETWORKS
from .models import Payout, PayoutDestination

log = logging.getLogger(__name__)


@shared_task
def payout_process(payout_id: int):
    """Send an approved payout the platform pays itself (EVM wallets, Stripe Connect).

    An unreachable node or Stripe leaves it approved; `payouts_confirm` picks it up again.
    """
    payout = Payout.objects.select_related("destination").get(id=payout_id)
    try:
        if payout.network in EVM_NETWORKS:
            return wallet.payout_wallet_send(payout_id=payout_id).status
        if payout.destination.kind == PayoutDestination.Kind.STRIPE_CONNECT:
            return bank.payout_stripe_send(payout_id=payout_id).status
    except (evm.ChainUnavailable, stripe_transfers.StripeUnavailable) as exc:
        log.warning("payout %s: cannot send yet: %s", payout.code, exc)
    return payout.status  # Solana wallets and manual bank accounts: finance pays and marks them paid


@shared_task
def payouts_confirm():
    """Follow wallet transfers to finality, and resume payouts a dead worker or an outage left approved."""
    for payout_id in Payout.objects.filter(status=Payout.Status.SENT, network__in=EVM_NETWORKS).values_list(
        "id", flat=True
    ):
        try:
            wallet.payout_wallet_confirm(payout_id=payout_id)
        except evm.ChainUnavailable as exc:
            log.warning("payout %s: cannot confirm yet: %s", payout_id, exc)
    resumable = Payout.objects.filter(status=Payout.Status.APPROVED).filter(
        network__in=EVM_NETWORKS
    ) | Payout.objects.filter(status=Payout.Status.APPROVED, destination__kind=PayoutDestination.Kind.STRIPE_CONNECT)
    for payout_id in resumable.values_list("id", flat=True):
        payout_process.delay(payout_id)


@shared_task
def payout_status_email(payout_id: int, status: str):
    emails.send_status_email(Payout.objects.select_related("account", "destination").get(id=payout_id), status)


@shared_task
def destination_email(destination_id: int, change: str):
    destination = PayoutDestination.objects.select_related("account").get(id=destination_id)
    {"added": emails.send_destination_added, "changed": emails.send_destination_changed}[change](destination)
