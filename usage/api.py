"""JSON API for usage: the request log (filters, cursor pages, CSV), one request, and the daily summary."""

import csv
import io
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.scoping import request_account, scoped, scoped_get_or_404
from billing.money import nanos_to_usd

from . import selectors
from .filters import UsageRecordFilter
from .models import UsageRecord

CSV_BATCH = 2000
CSV_COLUMNS = [
    "request_id",
    "created_at",
    "model",
    "node",
    "api_key",
    "endpoint",
    "stream",
    "status",
    "error_code",
    "input_tokens",
    "output_tokens",
    "node_input_tokens",
    "node_output_tokens",
    "verified",
    "input_price_nanos",
    "output_price_nanos",
    "cost",
    "cost_nanos",
    "operator_share_nanos",
    "platform_share_nanos",
    "latency_ms",
    "ttft_ms",
]


class UsageRecordOutputSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    model = serializers.CharField(source="model.model_id")
    node = serializers.CharField(source="node.name", allow_null=True, default=None)
    node_id = serializers.UUIDField(source="node.code", allow_null=True, default=None)
    api_key = serializers.CharField(source="api_key.public_id", allow_null=True, default=None)
    api_key_name = serializers.CharField(source="api_key.name", allow_null=True, default=None)
    endpoint = serializers.CharField()
    stream = serializers.BooleanField()
    status = serializers.ChoiceField(choices=UsageRecord.Status.choices)
    error_code = serializers.CharField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    node_input_tokens = serializers.IntegerField(allow_null=True)
    node_output_tokens = serializers.IntegerField(allow_null=True)
    verified = serializers.BooleanField(help_text="True when the platform's own tokenizer counted the tokens")
    input_price_nanos = serializers.IntegerField(help_text="Nano-dollars per input token")
    output_price_nanos = serializers.IntegerField(help_text="Nano-dollars per output token")
    cost = serializers.SerializerMethodField(help_text="USD, exact (up to 9 decimals)")
    cost_nanos = serializers.IntegerField()
    operator_share_nanos = serializers.IntegerField()
    platform_share_nanos = serializers.IntegerField()
    latency_ms = serializers.IntegerField()
    ttft_ms = serializers.IntegerField(allow_null=True, help_text="Time to first token (streams)")

    def get_cost(self, obj) -> str:
        return f"{nanos_to_usd(obj.cost_nanos):.9f}"


class NewestFirst(CursorPagination):
    # A keyset on (created_at, id) under the account: each page is a range scan of the
    # usage_account_created_id index, as fast on page 10,000 as on page 1.
    ordering = ("-created_at", "-id")
    page_size = 50
    max_page_size = 500
    page_size_query_param = "limit"


class CSVRenderer(BaseRenderer):
    """Only declares `?format=csv` to content negotiation; UsageListApi streams the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Errors (a bad filter) reach here as dicts: show them as one line of text.
        return str(data).encode() if data is not None else b""


def _csv_row(record: UsageRecord) -> list:
    return [
        record.request_id,
        record.created_at.isoformat(),
        record.model.model_id,
        record.node.name if record.node else "",
        record.api_key.public_id if record.api_key else "",
        record.endpoint,
        record.stream,
        record.status,
        record.error_code,
        record.input_tokens,
        record.output_tokens,
        "" if record.node_input_tokens is None else record.node_input_tokens,
        "" if record.node_output_tokens is None else record.node_output_tokens,
        record.verified,
        record.input_price_nanos,
        record.output_price_nanos,
        f"{nanos_to_usd(record.cost_nanos):.9f}",
        record.cost_nanos,
        record.operator_share_nanos,
        record.platform_share_nanos,
        record.latency_ms,
        "" if record.ttft_ms is None else record.ttft_ms,
    ]


def csv_chunks(queryset):
    """CSV text of every record of `queryset` (newest first), fetched in keyset batches.

    Batches instead of one server-side cursor: no transaction stays open while a slow client
    downloads, and each batch is an index range scan like a page of the API.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    queryset = queryset.select_related("model", "node", "api_key").order_by("-created_at", "-id")
    last = None
    while True:
        batch = queryset
        if last is not None:
            batch = batch.filter(Q(created_at__lt=last[0]) | Q(created_at=last[0], id__lt=last[1]))
        records = list(batch[:CSV_BATCH])
        for record in records:
            writer.writerow(_csv_row(record))
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(records) < CSV_BATCH:
            return
        last = (records[-1].created_at, records[-1].id)


async def _async_chunks(chunks):
    # Under ASGI Django would read a sync iterator to the end before sending a byte; this keeps the
    # download streaming, each batch's query on the thread the request's sync code uses.
    while True:
        chunk = await sync_to_async(next, thread_sensitive=True)(chunks, None)
        if chunk is None:
            return
        yield chunk


def csv_response(request, queryset, *, filename: str) -> StreamingHttpResponse:
    chunks = csv_chunks(queryset)
    inner = getattr(request, "_request", request)
    content = _async_chunks(chunks) if isinstance(inner, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class UsageListApi(ListAPIView):
    """The current Account's requests, newest first; `?format=csv` streams every matching one."""

    OutputSerializer = UsageRecordOutputSerializer
    serializer_class = UsageRecordOutputSerializer
    pagination_class = NewestFirst
    filter_backends = [DjangoFilterBackend]
    filterset_class = UsageRecordFilter
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]

    def get_queryset(self):
        return scoped(UsageRecord.objects.select_related("model", "node", "api_key"), self.request)

    @extend_schema(
        operation_id="usage_list",
        summary="Usage records of the current Account, newest first; cursor pagination; ?format=csv for all",
        parameters=[
            OpenApiParameter(
                "format",
                enum=["json", "csv"],
                description="csv: a CSV download of every matching record (no pagination)",
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        if request.accepted_renderer.format == "csv":
            queryset = self.filter_queryset(self.get_queryset())
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            return csv_response(request, queryset, filename=f"infer-usage-{stamp}.csv")
        return super().list(request, *args, **kwargs)


class UsageDetailApi(APIView):
    """One request of the current Account by its request id; another tenant's is a 404."""

    OutputSerializer = UsageRecordOutputSerializer

    @extend_schema(operation_id="usage_get", responses=UsageRecordOutputSerializer, summary="One usage record")
    def get(self, request, request_id):
        record = scoped_get_or_404(
            UsageRecord.objects.select_related("model", "node", "api_key"), request, request_id=request_id
        )
        return Response(self.OutputSerializer(record).data)


class UsageSummaryApi(APIView):
    """Usage per UTC day and model from the daily rollup (updated every 30 s, a minute behind)."""

    class InputSerializer(serializers.Serializer):
        start = serializers.DateField(required=False, help_text="First day (UTC), default 29 days before `end`")
        end = serializers.DateField(required=False, help_text="Last day (UTC, inclusive), default today")

        def validate(self, data):
            end = data.get("end") or timezone.now().date()
            start = data.get("start") or end - timedelta(days=29)
            if end < start:
                raise serializers.ValidationError({"end": ["`end` must not be before `start`."]})
            if (end - start).days > 366:
                raise serializers.ValidationError({"start": ["Ask for at most 367 days at a time."]})
            return {"start": start, "end": end}

    class OutputSerializer(serializers.Serializer):
        class Row(serializers.Serializer):
            day = serializers.DateField()
            model = serializers.CharField()
            requests = serializers.IntegerField()
            errors = serializers.IntegerField()
            input_tokens = serializers.IntegerField()
            output_tokens = serializers.IntegerField()
            cost = serializers.CharField(help_text="USD, exact")
            cost_nanos = serializers.IntegerField()

        class Totals(serializers.Serializer):
            requests = serializers.IntegerField()
            errors = serializers.IntegerField()
            input_tokens = serializers.IntegerField()
            output_tokens = serializers.IntegerField()
            cost = serializers.CharField()
            cost_nanos = serializers.IntegerField()

        start = serializers.DateField()
        end = serializers.DateField()
        days = Row(many=True)
        totals = Totals()

    @extend_schema(
        operation_id="usage_summary",
        parameters=[InputSerializer],
        responses=OutputSerializer,
        summary="Usage per day and model (requests, tokens, cost) from the daily rollup",
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        start, end = params.validated_data["start"], params.validated_data["end"]
        rows = selectors.buyer_spend_by_day(account=request_account(request), start=start, end=end)
        totals = {
            name: sum(row[name] for row in rows)
            for name in ("requests", "errors", "input_tokens", "output_tokens", "cost_nanos")
        }
        data = {
            "start": start,
            "end": end,
            "days": [{**row, "cost": f"{nanos_to_usd(row['cost_nanos']):.9f}"} for row in rows],
            "totals": {**totals, "cost": f"{nanos_to_usd(totals['cost_nanos']):.9f}"},
        }
        return Response(self.OutputSerializer(data).data)
