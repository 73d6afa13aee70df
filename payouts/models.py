"""Payout destinations (USDC wallets, bank accounts) and payouts of operator earnings."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PayoutDestination(models.Model):
    """Where an operator's money goes. A new or changed destination is locked for 24 hours.

    `changed_at` restarts the lock whenever the address or bank details change, so a stolen session
    cannot redirect a payout at once.
    """

    class Kind(models.TextChoices):
        USDC_WALLET = "usdc_wallet", "USDC wallet"
        STRIPE_CONNECT = "stripe_connect", "Bank account (Stripe Connect)"
        MANUAL_BANK = "manual_bank", "Bank account (paid by hand)"

    class Network(models.TextChoices):
        ETHEREUM = "ethereum", "Ethereum"
        BASE = "base", "Base"
        SOLANA = "solana", "Solana"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="payout_destinations")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    label = models.CharField(max_length=100, blank=True)
    network = models.CharField(max_length=10, choices=Network.choices, blank=True)
    address = models.CharField(max_length=64, blank=True)  # EIP-55 checksummed, or base58 for Solana
    stripe_account_id = models.CharField(max_length=64, blank=True)  # acct_...
    # Manual bank details, for finance staff who pay by hand.
    bank_holder_name = models.CharField(max_length=200, blank=True)
    bank_iban = models.CharField(max_length=64, blank=True)  # IBAN or account number
    bank_bic = models.CharField(max_length=20, blank=True)  # BIC/SWIFT or routing number
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="usdc_wallet", network__in=["ethereum", "base", "solana"]) & ~Q(address="")
                | Q(kind="stripe_connect", network="") & ~Q(stripe_account_id="")
                | Q(kind="manual_bank", network="") & ~Q(bank_iban=""),
                name="payoutdestination_kind_has_details",
            ),
        ]
        indexes = [
            # The portal's list of an Account's destinations.
            models.Index(fields=["account", "-created_at"], name="payoutdest_account_created"),
        ]

    def __str__(self):
        return self.describe()

    def describe(self) -> str:
        if self.kind == self.Kind.USDC_WALLET:
            return f"USDC on {self.get_network_display()} {self.address[:6]}…{self.address[-4:]}"
        if self.kind == self.Kind.STRIPE_CONNECT:
            return f"Bank via Stripe ({self.stripe_account_id})"
        return f"Bank {self.bank_holder_name} …{self.bank_iban[-4:]}"

    def unlocks_at(self):
        return self.changed_at + timezone.timedelta(seconds=settings.PAYOUT_DESTINATION_LOCK_SECONDS)

    def is_locked(self, now=None) -> bool:
        return (now or timezone.now()) < self.unlocks_at()


class Payout(models.Model):
    """One withdrawal: requested → approved → sent → paid, or rejected / failed with a reason.

    The ledger moves at `sent` (earnings → clearing:payouts), at `paid` (clearing → payouts:sent)
    and at a failure after `sent` (back to earnings), each under `payout:<id>:<step>`. Until `sent`
    a hold on the earnings keeps the amount from being withdrawn twice.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested"
        APPROVED = "approved"
        SENT = "sent"
        PAID = "paid"
        REJECTED = "rejected"
        FAILED = "failed"

    OPEN_STATUSES = (Status.REQUESTED, Status.APPROVED, Status.SENT)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="payouts")
    destination = models.ForeignKey(PayoutDestination, on_delete=models.PROTECT, related_name="payouts")
    amount_nanos = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    reason = models.CharField(max_length=500, blank=True)  # why it was rejected or failed; the operator sees it
    idempotency_key = models.CharField(max_length=200)
    request_fingerprint = models.CharField(max_length=64)  # SHA-256 of what was asked, for the 409 rule
    hold = models.OneToOneField("billing.Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    auto_approved = models.BooleanField(default=False)
    # Where it went, copied at request time so the record stays true if the destination changes later.
    network = models.CharField(max_length=10, blank=True)
    to_address = models.CharField(max_length=64, blank=True)
    # A wallet payout's transaction, recorded before it is broadcast: a worker that dies after
    # broadcasting finds it here and re-sends the same bytes instead of signing a second transfer.
    from_address = models.CharField(max_length=64, blank=True)
    token_units = models.BigIntegerField(null=True, blank=True)  # USDC base units (6 decimals)
    tx_nonce = models.BigIntegerField(null=True, blank=True)
    tx_hash = models.CharField(max_length=100, blank=True)
    signed_tx = models.TextField(blank=True)  # hex of the signed raw transaction
    # Set before the first broadcast: once set, a copy may be out there, so a later refusal by the
    # node no longer proves the transfer can never be mined.
    broadcast_at = models.DateTimeField(null=True, blank=True)
    block_number = models.BigIntegerField(null=True, blank=True)
    # A bank payout's reference: a Stripe transfer id, or what finance typed when paying by hand.
    external_reference = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="payout_idempotency_per_account"),
            models.CheckConstraint(condition=Q(amount_nanos__gt=0), name="payout_amount_positive"),
            # One transaction per nonce and wallet: two live payouts can never share a signed nonce
            # (a payout whose transfer the network refused gives its nonce back).
            models.UniqueConstraint(
                fields=["network", "from_address", "tx_nonce"],
                condition=Q(tx_nonce__isnull=False) & ~Q(status="failed"),
                name="payout_one_per_nonce",
            ),
        ]
        indexes = [
            # The portal's and the API's history of an Account, newest first.
            models.Index(fields=["account", "-created_at"], name="payout_account_created"),
            # The finance queue and the confirmation sweep: payouts by status.
            models.Index(fields=["status", "created_at"], name="payout_status_created"),
        ]

    def __str__(self):
        return f"Payout {self.code} ({self.status})"

    @property
    def is_wallet(self):
        return bool(self.network)


class HotWalletNonce(models.Model):
    """The next nonce of the platform's hot wallet on one EVM network, locked while a payout signs.

    Two workers signing at once would otherwise read the same pending nonce from the node and sign
    two transactions that replace each other.
    """

    network = models.CharField(max_length=10)
    address = models.CharField(max_length=64)
    next_nonce = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["network", "address"], name="hotwalletnonce_unique")]
