"""The double-entry ledger (accounts, transactions, entries), holds, and the priced model catalog.

Ledger rows are append-only: PostgreSQL triggers (billing/sql/ledger.sql) refuse any UPDATE or DELETE
of an entry or transaction, and a deferred constraint trigger refuses, at commit, a transaction whose
entries do not sum to zero.
"""

from django.db import models
from django.db.models import Q
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
