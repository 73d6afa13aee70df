"""USDC wallet payouts on Ethereum and Base: sign and record, broadcast, mark sent, confirm to finality.

The signed transaction is written to the payout BEFORE it is broadcast. A worker killed at any
point re-runs `payout_wallet_send` and finds it: it re-broadcasts the same bytes (one nonce, one
hash, so at most one transfer can ever be mined) and carries on. Node calls happen outside database
transactions; each database step is a short atomic block.
"""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.money import nanos_to_usdc_units

from . import evm
from .addresses import EVM_NETWORKS
from .models import HotWalletNonce, Payout
from .services import payout_fail, payout_mark_paid, payout_mark_sent

log = logging.getLogger(__name__)


def payout_wallet_sign(*, payout_id: int) -> Payout:
    """Sign the transfer of an approved wallet payout and record it (idempotent: signs at most once)."""
    payout = Payout.objects.get(id=payout_id)
    if payout.signed_tx or payout.status != Payout.Status.APPROVED:
        return payout
    params = evm.send_params(payout.network)  # node I/O, before any lock
    from_address = evm.hot_wallet_address()
    units = nanos_to_usdc_units(payout.amount_nanos)
    with transaction.atomic():
        # The row lock serializes signers of this wallet: two payouts must never get one nonce.
        counter, _ = HotWalletNonce.objects.get_or_create(network=payout.network, address=from_address)
        counter = HotWalletNonce.objects.select_for_update().get(id=counter.id)
        nonce = max(counter.next_nonce, params.pending_nonce)
        signed = evm.transfer_sign(
            network=payout.network, to_address=payout.to_address, units=units, nonce=nonce, params=params
        )
        recorded = Payout.objects.filter(id=payout.id, status=Payout.Status.APPROVED, signed_tx="").update(
            from_address=from_address,
            token_units=units,
            tx_nonce=nonce,
            tx_hash=signed.tx_hash,
            signed_tx=signed.raw_hex,
        )
        if recorded:
            counter.next_nonce = nonce + 1
            counter.save(update_fields=["next_nonce"])
    log.info("payout %s: signed transfer %s (nonce %s) recorded", payout.code, signed.tx_hash, nonce)
    return Payout.objects.get(id=payout.id)


def _never_mined(payout: Payout) -> bool:
    """True only when the recorded transfer can never be mined: another transaction took its nonce."""
    return not evm.transaction_known(payout.network, payout.tx_hash) and (
        evm.confirmed_nonce(payout.network, payout.from_address) > payout.tx_nonce
    )


def payout_wallet_broadcast(*, payout_id: int) -> tuple[Payout, bool]:
    """Broadcast the recorded transfer; returns (payout, whether the network has it).

    A refusal fails the payout (hold released) only when the transfer can never arrive.
    """
    payout = Payout.objects.get(id=payout_id)
    if not payout.signed_tx or payout.status != Payout.Status.APPROVED:
        return payout, False
    # Claimed before sending: the one worker that sets it knows no copy of these bytes exists yet.
    first_attempt = bool(
        Payout.objects.filter(id=payout.id, broadcast_at__isnull=True).update(broadcast_at=timezone.now())
    )
    try:
        evm.raw_broadcast(network=payout.network, raw_hex=payout.signed_tx, tx_hash=payout.tx_hash)
    except evm.BroadcastRejected as exc:
        if not (first_attempt or _never_mined(payout)):
            # An earlier broadcast may sit in some node's pool and still be mined: failing now could
            # pay twice. It stays approved; the sweep retries and staff see the error.
            log.error("payout %s: the node refused transfer %s again: %s", payout.code, payout.tx_hash, exc)
            return payout, False
        with transaction.atomic():
            failed = payout_fail(payout=payout, reason=f"The network refused the USDC transfer: {exc}")
            if first_attempt:
                # Give the unused nonce back if nothing was signed after it, so later payouts do not wait.
                HotWalletNonce.objects.filter(
                    network=payout.network, address=payout.from_address, next_nonce=payout.tx_nonce + 1
                ).update(next_nonce=F("next_nonce") - 1)
        return failed, False
    return payout, True


def payout_wallet_send(*, payout_id: int) -> Payout:
    """Sign (once), broadcast, and mark sent. Safe to run again at any point."""
    payout = Payout.objects.get(id=payout_id)
    if payout.status != Payout.Status.APPROVED or payout.network not in EVM_NETWORKS:
        return payout
    payout_wallet_sign(payout_id=payout_id)
    payout, on_network = payout_wallet_broadcast(payout_id=payout_id)
    if not on_network:
        return payout
    return payout_mark_sent(payout=payout)


def payout_wallet_confirm(*, payout_id: int) -> Payout:
    """Follow a sent transfer: paid once its block is finalized, failed (earnings back) if it reverted."""
    payout = Payout.objects.get(id=payout_id)
    if payout.status != Payout.Status.SENT or payout.network not in EVM_NETWORKS:
        return payout
    found = evm.receipt(payout.network, payout.tx_hash)
    if found is None:
        if not evm.transaction_known(payout.network, payout.tx_hash):
            if _never_mined(payout):
                return payout_fail(payout=payout, reason="The USDC transfer was dropped by the network")
            # Dropped from the node's pool: the same bytes again (they can still be mined only once).
            try:
                evm.raw_broadcast(network=payout.network, raw_hex=payout.signed_tx, tx_hash=payout.tx_hash)
            except evm.BroadcastRejected as exc:
                log.error("payout %s: the node refused transfer %s again: %s", payout.code, payout.tx_hash, exc)
        return payout
    if not found.succeeded:
        return payout_fail(payout=payout, reason="The USDC transfer reverted on chain")
    if found.block_number > evm.finalized_block_number(payout.network):
        return payout
    if evm.canonical_block_hash(payout.network, found.block_number) != found.block_hash:
        return payout  # reorganised away: the receipt will move to the new block
    return payout_mark_paid(payout=payout, block_number=found.block_number)
