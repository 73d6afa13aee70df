"""The double-entry ledger (accounts, transactions, entries), holds, the priced model catalog, deposits.

Ledger rows are append-only: PostgreSQL triggers (billing/sql/ledger.sql) refuse any UPDATE or DELETE
of an entry or transaction, and a deferred constraint trigger refuses, at commit, a transaction whose
entries do not sum to zero.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class LedgerAccount(models.Model):
    """A balance in the ledger. Positive means INFER owes it (a buyer's credit, an operator's earnings).

    `balance_nanos` is a cache of the sum of its entries. *Eager* accounts (buyer balances) update it
    in the same database transaction as their entries, so the gateway's 402 check reads one row.
    *Deferred* accounts (platform revenue, operator earnings, clearing accounts) are shared and hot:
    postings append a `BalanceDelta` instead of locking the row, and `ledger_rollup` folds the deltas
    into the balance in the background. Their exact balance is `balance_nanos + sum(deltas)`.
    """

    class Kind(models.TextChoices):
        BUYER = "buyer", "Buyer balance"
        OPERATOR_EARNINGS = "operator_earnings", "Operator earnings"
        PLATFORM_REVENUE = "platform_revenue", "Platform revenue"
        CARD_CLEARING = "card_clearing", "Card payments (Stripe)"
        CHAIN_CLEARING = "chain_clearing", "USDC deposits"
        PAYOUT_CLEARING = "payout_clearing", "Payouts in transit"
        PAYOUTS_SENT = "payouts_sent", "Payouts sent"
        ADJUSTMENTS = "adjustments", "Manual adjustments"

    OWNED_KINDS = (Kind.BUYER, Kind.OPERATOR_EARNINGS)

    key = models.CharField(max_length=100, unique=True)  # e.g. "buyer:12", "platform:revenue"
    kind = models.CharField(max_length=20, choices=Kind.choices)
    owner = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, null=True, blank=True)
    is_deferred = models.BooleanField(default=False)
    balance_nanos = models.BigIntegerField(default=0)
    # Sum of open holds and the number of open request holds (cached with the balance, same row).
    held_nanos = models.BigIntegerField(default=0)
    in_flight = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["buyer", "operator_earnings"], owner__isnull=False)
                | ~Q(kind__in=["buyer", "operator_earnings"]) & Q(owner__isnull=True),
                name="ledgeraccount_owner_matches_kind",
            ),
            models.CheckConstraint(condition=Q(held_nanos__gte=0), name="ledgeraccount_held_not_negative"),
            models.CheckConstraint(condition=Q(in_flight__gte=0), name="ledgeraccount_in_flight_not_negative"),
            # One account of each owned kind per tenant.
            models.UniqueConstraint(
                fields=["owner", "kind"], condition=Q(owner__isnull=False), name="ledgeraccount_one_per_owner"
            ),
        ]

    def __str__(self):
        return self.key

    @property
    def available_nanos(self):
        return self.balance_nanos - self.held_nanos


class Transaction(models.Model):
    """One balanced movement of money, caused by exactly one thing named by its idempotency key."""

    class Kind(models.TextChoices):
        USAGE = "usage"
        CARD_DEPOSIT = "card_deposit"
        CARD_REFUND = "card_refund"
        CARD_DISPUTE = "card_dispute"
        CHAIN_DEPOSIT = "chain_deposit"
        PAYOUT = "payout"
        ADJUSTMENT = "adjustment"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    memo = models.CharField(max_length=500, blank=True)
    reference = models.CharField(max_length=200, blank=True)  # what caused it, e.g. "usage:<uuid>"
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="transaction_created")]

    def __str__(self):
        return f"{self.kind} {self.idempotency_key}"


class Entry(models.Model):
    """One leg of a transaction: a signed, non-zero amount on one ledger account."""

    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    ledger_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount_nanos = models.BigIntegerField()

    class Meta:
        verbose_name_plural = "entries"
        constraints = [models.CheckConstraint(condition=~Q(amount_nanos=0), name="entry_amount_not_zero")]
        indexes = [
            # An account's statement, newest first; and balance sums in check_ledger.
            models.Index(fields=["ledger_account", "-id"], name="entry_account_id"),
        ]


class BalanceDelta(models.Model):
    """A not-yet-rolled-up change to a deferred account's cached balance (see LedgerAccount)."""

    ledger_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="deltas")
    amount_nanos = models.BigIntegerField()


class Hold(models.Model):
    """Money reserved on an account while a request (or payout) is in flight; released exactly once."""

    class Kind(models.TextChoices):
        REQUEST = "request"
        PAYOUT = "payout"

    ledger_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="holds")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REQUEST)
    key = models.CharField(max_length=200, unique=True)  # "request:<uuid>", "payout:<id>"
    amount_nanos = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount_nanos__gte=0), name="hold_amount_not_negative")]
        indexes = [
            # The expiry sweep: open holds by expiry.
            models.Index(fields=["expires_at"], condition=Q(released_at__isnull=True), name="hold_open_expiry"),
        ]


class Tier(models.Model):
    """A model tier with the platform's default prices (nano-dollars per token)."""

    slug = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=50)
    description = models.CharField(max_length=100, blank=True)
    input_price_nanos = models.BigIntegerField()
    output_price_nanos = models.BigIntegerField()
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order"]
        constraints = [
            models.CheckConstraint(
                condition=Q(input_price_nanos__gte=0, output_price_nanos__gte=0), name="tier_prices_not_negative"
            )
        ]

    def __str__(self):
        return self.name


class CatalogModel(models.Model):
    """A model buyers can call: the id used in the API, its tier, context length and tokenizer."""

    model_id = models.CharField(max_length=200, unique=True)
    display_name = models.CharField(max_length=200)
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="models")
    context_length = models.PositiveIntegerField()
    tokenizer = models.CharField(max_length=50, blank=True)  # a name in usage/tokenizers.py, or blank
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["model_id"]

    def __str__(self):
        return self.model_id


# --- USDC deposits on chain (billing/chains/) ----------------------------------------------------------


class Network(models.TextChoices):
    ETHEREUM = "ethereum", "Ethereum"
    BASE = "base", "Base"
    SOLANA = "solana", "Solana"


class DepositAddress(models.Model):
    """An Account's USDC deposit address on one network, derived from HD keys (BIP-44) at `derivation_index`."""

    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="deposit_addresses")
    network = models.CharField(max_length=20, choices=Network.choices)
    derivation_index = models.PositiveIntegerField()
    address = models.CharField(max_length=64)
    # Solana: the wallet's associated token account for the USDC mint, which is what receives USDC.
    token_account = models.CharField(max_length=64, blank=True)
    # Solana: the newest signature of `token_account` whose transaction was processed at `finalized`.
    last_signature = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "network"], name="depositaddress_one_per_network"),
            models.UniqueConstraint(fields=["network", "address"], name="depositaddress_address_unique"),
            models.UniqueConstraint(fields=["network", "derivation_index"], name="depositaddress_index_unique"),
        ]

    def __str__(self):
        return f"{self.network}:{self.address}"


class ChainDeposit(models.Model):
    """One USDC transfer into a deposit address: an EVM log or a Solana instruction, credited at most once."""

    class Status(models.TextChoices):
        SEEN = "seen", "Seen"  # first sighting, in a block that is not finalized yet
        CONFIRMING = "confirming", "Confirming"  # seen again, still canonical, waiting for finality
        FINALIZED = "finalized", "Finalized"  # finalized and canonical; credit follows in the same run
        BELOW_MINIMUM = "below_minimum", "Waiting for $5 total"  # finalized, uncredited total under the minimum
        CREDITED = "credited", "Credited"
        ORPHANED = "orphaned", "Dropped by a reorg"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="chain_deposits")
    deposit_address = models.ForeignKey(DepositAddress, on_delete=models.PROTECT, related_name="deposits")
    network = models.CharField(max_length=20, choices=Network.choices)
    tx_hash = models.CharField(max_length=100)  # EVM transaction hash (0x…) or Solana signature
    log_index = models.CharField(max_length=20)  # EVM log index, or Solana instruction ("3" or inner "3.1")
    from_address = models.CharField(max_length=64, blank=True)
    to_address = models.CharField(max_length=64)
    amount_units = models.BigIntegerField()  # USDC base units (6 decimals)
    amount_nanos = models.BigIntegerField()
    block_number = models.BigIntegerField()  # Solana: the slot
    block_hash = models.CharField(max_length=100, blank=True)  # Solana: blank (finality comes from commitment)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SEEN)
    created_at = models.DateTimeField(default=timezone.now)
    finalized_at = models.DateTimeField(null=True, blank=True)
    credited_at = models.DateTimeField(null=True, blank=True)
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, null=True, blank=True)

    class Meta:
        constraints = [
            # One row per transfer, whatever block it lands in: a re-included transaction updates its row.
            models.UniqueConstraint(fields=["network", "tx_hash", "log_index"], name="chaindeposit_transfer_unique"),
            models.CheckConstraint(condition=Q(amount_units__gt=0), name="chaindeposit_amount_positive"),
            models.CheckConstraint(
                condition=Q(status="credited", transaction__isnull=False, credited_at__isnull=False)
                | ~Q(status="credited") & Q(transaction__isnull=True),
                name="chaindeposit_credited_has_transaction",
            ),
        ]
        indexes = [
            # The portal's and the API's deposit history, newest first.
            models.Index(fields=["account", "-created_at"], name="chaindeposit_account_recent"),
            # The scanner's work: uncredited deposits by network and block.
            models.Index(
                fields=["network", "block_number"],
                condition=Q(status__in=["seen", "confirming", "finalized", "below_minimum"]),
                name="chaindeposit_open",
            ),
        ]

    def __str__(self):
        return f"{self.network}:{self.tx_hash}:{self.log_index}"

    @property
    def idempotency_key(self) -> str:
        return f"chain:{self.network}:{self.tx_hash}:{self.log_index}"


class ChainCursor(models.Model):
    """How far an EVM network has been scanned for good: every block up to `block_number` is finalized and done."""

    network = models.CharField(max_length=20, choices=Network.choices, unique=True)
    block_number = models.BigIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.network}@{self.block_number}"


class Notification(models.Model):
    """A low-balance alert for an Account: one row per downward crossing of a threshold.

    Rows are written in the same database transaction as the ledger change that crossed the
    threshold, so a crossing is recorded exactly once; emails and desktop pushes go out after commit.
    """

    class Kind(models.TextChoices):
        LOW_BALANCE = "low_balance", "Low balance"
        BALANCE_DEPLETED = "balance_depleted", "Balance used up"

    class EmailStatus(models.TextChoices):
        NONE = "none"  # this threshold sends no email
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    threshold_nanos = models.BigIntegerField()
    balance_nanos = models.BigIntegerField()  # the balance right after the crossing
    desktop = models.BooleanField(default=False)
    email_status = models.CharField(max_length=10, choices=EmailStatus.choices, default=EmailStatus.NONE)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The notification list and the event stream: an Account's newest first / after an id.
            models.Index(fields=["account", "-id"], name="notification_account_id"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.account})"


class AlertPreference(models.Model):
    """A member's choice of low-balance emails for one Account (no row: emails on)."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="alert_preferences")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="alert_preferences")
    low_balance_email = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="alertpreference_unique")]


class CardPayment(models.Model):
    """A card deposit through Stripe Checkout: written before the session exists, credited once by its
    verified webhook (idempotency key `stripe:<payment intent id>`); refunds and disputes follow it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for payment"
        CREDITED = "credited", "Credited"
        FAILED = "failed", "Could not start"
        EXPIRED = "expired", "Expired"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="card_payments")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    amount_nanos = models.BigIntegerField()  # what the buyer asked to pay
    credited_nanos = models.BigIntegerField(default=0)  # what Stripe says was paid, credited once
    refunded_nanos = models.BigIntegerField(default=0)  # cumulative refunds debited so far
    checkout_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    checkout_url = models.CharField(max_length=2000, blank=True)  # Stripe-hosted page
    payment_intent_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    charge_id = models.CharField(max_length=255, blank=True)
    credit_transaction = models.ForeignKey(
        Transaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    credited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_nanos__gt=0), name="cardpayment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_nanos__gte=0, refunded_nanos__lte=F("credited_nanos")),
                name="cardpayment_refunds_within_credit",
            ),
        ]
        indexes = [
            # The deposit history and /api/deposits: an account's payments, newest first (keyset).
            models.Index(fields=["account", "-created_at", "-id"], name="cardpayment_account_created"),
        ]

    def __str__(self):
        return f"card payment {self.code}"


class CardDispute(models.Model):
    """A chargeback on a card payment. Funds are debited when Stripe withdraws them (any status but the
    `warning_*` inquiries) and re-credited if the dispute is won; lost disputes stay debited."""

    class Status(models.TextChoices):
        INQUIRY = "inquiry", "Inquiry (nothing withdrawn)"
        OPEN = "open", "Open (funds withdrawn)"
        WON = "won", "Won (funds returned)"
        LOST = "lost", "Lost"
        CLOSED = "closed", "Inquiry closed"

    dispute_id = models.CharField(max_length=255, unique=True)
    card_payment = models.ForeignKey(CardPayment, on_delete=models.PROTECT, related_name="disputes")
    # Denormalized from the payment so the gateway's dispute check is one indexed lookup.
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="card_disputes")
    status = models.CharField(max_length=10, choices=Status.choices)
    stripe_status = models.CharField(max_length=40)
    reason = models.CharField(max_length=100, blank=True)
    amount_nanos = models.BigIntegerField()
    debited_nanos = models.BigIntegerField(default=0)
    reinstated_nanos = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_nanos__gt=0), name="carddispute_amount_positive"),
            models.CheckConstraint(
                condition=Q(reinstated_nanos__gte=0, reinstated_nanos__lte=F("debited_nanos")),
                name="carddispute_reinstated_within_debit",
            ),
        ]
        indexes = [
            # account_blocked_by_dispute: disputes of an account whose withdrawn funds were not returned.
            models.Index(
                fields=["account"],
                condition=Q(debited_nanos__gt=0, reinstated_nanos=0),
                name="carddispute_unsettled",
            ),
        ]

    def __str__(self):
        return self.dispute_id
