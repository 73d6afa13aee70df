"""Inference nodes, the models they serve (with operator prices), and one usage record per request."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Node(models.Model):
    """An operator's OpenAI-compatible server (vLLM, llama.cpp server, Ollama, TGI) the gateway routes to."""

    class Status(models.TextChoices):
        INACTIVE = "inactive"  # registered in the portal; goes live only after a test call succeeds
        ACTIVE = "active"
        PAUSED = "paused"  # by the operator
        SUSPENDED = "suspended"  # by staff or an automatic violation; only staff lift it

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="nodes")
    name = models.CharField(max_length=100)
    base_url = models.URLField(max_length=300)  # e.g. http://10.0.0.5:8000/v1 (the path before /chat/...)
    # Sent to the node as `Authorization: Bearer ...`. It must be kept to be used, so it is stored; the
    # portal and admin never display it again after it is entered.
    api_key = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    suspended_reason = models.CharField(max_length=300, blank=True)
    # The last test call from the portal: when, and why it failed (blank when it succeeded).
    checked_at = models.DateTimeField(null=True, blank=True)
    check_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Health, written by the gateway's settlement batches (exponentially weighted).
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error_rate_ppm = models.PositiveIntegerField(default=0)  # errors per million requests, recent

    class Meta:
        indexes = [
            # Routing: the active nodes (joined from NodeModel by model).
            models.Index(fields=["status"], name="node_status"),
        ]
        constraints = [
            # The portal names nodes in lists, the CSV statement and usage logs: one name per operator.
            models.UniqueConstraint(fields=["account", "name"], name="node_name_unique_per_account"),
        ]

    def __str__(self):
        return self.name


class NodeModel(models.Model):
    """A model a node serves; the operator's prices (nanos per token) override the tier default when set."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="models")
    model = models.ForeignKey("billing.CatalogModel", on_delete=models.PROTECT, related_name="node_models")
    # The name the node itself uses for the model, when it differs from the catalog id (e.g. Ollama's).
    upstream_name = models.CharField(max_length=200, blank=True)
    input_price_nanos = models.BigIntegerField(null=True, blank=True)
    output_price_nanos = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "model"], name="nodemodel_unique"),
            models.CheckConstraint(
                condition=(Q(input_price_nanos__isnull=True) | Q(input_price_nanos__gte=0))
                & (Q(output_price_nanos__isnull=True) | Q(output_price_nanos__gte=0)),
                name="nodemodel_prices_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.model_id} on {self.node_id}"


class UsageRecord(models.Model):
    """One inference request: what was billed, what the node claimed, and how it went."""

    class Status(models.TextChoices):
        SUCCESS = "success"
        ERROR = "error"  # no output: the buyer paid nothing
        CLIENT_CLOSED = "client_closed"  # the client hung up mid-stream: paid for what was generated
        NODE_FAILED = "node_failed"  # the node died mid-stream: paid for what was delivered

    request_id = models.UUIDField(unique=True)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="usage_records")
    api_key = models.ForeignKey("accounts.APIKey", on_delete=models.SET_NULL, null=True, related_name="+")
    model = models.ForeignKey("billing.CatalogModel", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey(Node, on_delete=models.PROTECT, null=True, blank=True, related_name="usage_records")
    endpoint = models.CharField(max_length=20, default="chat")  # "chat" or "completions"
    stream = models.BooleanField(default=False)
    # Billed tokens: the platform's count where it has the model's tokenizer, the node's otherwise.
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    node_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    node_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    verified = models.BooleanField(default=False)  # True when the platform's tokenizer counted
    metering_disagreement = models.BooleanField(default=False)
    input_price_nanos = models.BigIntegerField(default=0)
    output_price_nanos = models.BigIntegerField(default=0)
    cost_nanos = models.BigIntegerField(default=0)
    operator_share_nanos = models.BigIntegerField(default=0)
    platform_share_nanos = models.BigIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=15, choices=Status.choices)
    error_code = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # /api/usage and the portal's usage log: an account's records, newest first, paged by the
            # keyset (created_at, id) so any page is an index range scan, however deep.
            models.Index(fields=["account", "-created_at", "-id"], name="usage_account_created_id"),
            # The usage log filtered by model (its most used filter): a page is a range scan even for a
            # model the account never used in the window, instead of a walk over the whole window.
            models.Index(fields=["account", "model", "-created_at", "-id"], name="usage_account_model_created"),
            # The usage log filtered to failed requests (a few percent of rows): a small partial index,
            # so "my errors" is a range scan, not a walk over every successful request.
            models.Index(
                fields=["account", "-created_at", "-id"],
                condition=~Q(status="success"),
                name="usage_account_unsuccessful",
            ),
            # No index on created_at alone: with one, PostgreSQL picked it for filtered pages of a big
            # account (a 10-day window of every account's records: 190 ms p50 at 10M records instead of
            # 0.3 ms on the account index). Retention and the rollup walk the primary key instead.
            # Staff review and automatic violations: disputed records of a node's operator.
            models.Index(
                fields=["node", "-created_at"], condition=Q(metering_disagreement=True), name="usage_disputed"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(cost_nanos=models.F("operator_share_nanos") + models.F("platform_share_nanos")),
                name="usagerecord_shares_sum_to_cost",
            ),
        ]

    def __str__(self):
        return str(self.request_id)

    # The breakdown the portal shows (cost = input cost + output cost, exactly).
    @property
    def input_cost_nanos(self) -> int:
        return self.input_tokens * self.input_price_nanos

    @property
    def output_cost_nanos(self) -> int:
        return self.output_tokens * self.output_price_nanos

    @property
    def input_price_per_1m(self) -> int:
        return self.input_price_nanos * 1_000_000

    @property
    def output_price_per_1m(self) -> int:
        return self.output_price_nanos * 1_000_000


class UsageDaily(models.Model):
    """Usage summed per UTC day, buyer, operator, node and model: charts and summaries never scan raw rows.

    Kept by usage.services.usage_rollup (a Celery beat task) from UsageRecords past a watermark, so it
    outlives the raw records' retention.
    """

    day = models.DateField()
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="+")
    # The node's operator at the time of the request (null when no node was reached).
    operator_account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    node = models.ForeignKey(Node, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    model = models.ForeignKey("billing.CatalogModel", on_delete=models.PROTECT, related_name="+")
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost_nanos = models.BigIntegerField(default=0)
    operator_share_nanos = models.BigIntegerField(default=0)
    platform_share_nanos = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # The grain; NULLS NOT DISTINCT so requests that reached no node still share one row.
            models.UniqueConstraint(
                fields=["day", "account", "operator_account", "node", "model"],
                name="usagedaily_grain",
                nulls_distinct=False,
            ),
        ]
        indexes = [
            # /api/usage/summary and the dashboard chart: a buyer's days in a range.
            models.Index(fields=["account", "day"], name="usagedaily_account_day"),
            # Operator earnings: an operator's days in a range.
            models.Index(fields=["operator_account", "day"], name="usagedaily_operator_day"),
        ]

    def __str__(self):
        return f"{self.day} {self.account_id} {self.model_id}"


class UsageRollupState(models.Model):
    """One row: the highest UsageRecord id already summed into UsageDaily (the rollup's watermark)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_record_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"rollup through record {self.last_record_id}"
