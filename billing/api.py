"""JSON API for billing: the balance, notifications and the deposit history."""

import base64
import binascii
import json
from dataclasses import asdict
from datetime import datetime

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.scoping import request_account

from .money import nanos_to_usd
from .selectors import balance_summary, deposit_get, deposits_page


class BalanceApi(APIView):
    class OutputSerializer(serializers.Serializer):
        balance = serializers.DecimalField(max_digits=30, decimal_places=9, coerce_to_string=True)
        balance_nanos = serializers.IntegerField()
        held_nanos = serializers.IntegerField()
        available = serializers.DecimalField(max_digits=30, decimal_places=9, coerce_to_string=True)
        available_nanos = serializers.IntegerField()
        in_flight = serializers.IntegerField()
        thresholds = serializers.DictField(child=serializers.IntegerField())

    @extend_schema(responses=OutputSerializer, summary="The current Account's balance, holds and thresholds")
    def get(self, request):
        summary = balance_summary(account=request_account(request))
        data = {
            **summary,
            "balance": nanos_to_usd(summary["balance_nanos"]),
            "available": nanos_to_usd(summary["available_nanos"]),
        }
        return Response(self.OutputSerializer(data).data)


def _cursor_encode(cursor) -> str:
    created_at, method, sort_id = cursor
    raw = json.dumps([created_at.isoformat(), method, sort_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(text: str):
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        created_at, method, sort_id = json.loads(raw)
        when = datetime.fromisoformat(created_at)
        if not isinstance(method, str) or not isinstance(sort_id, int) or when.tzinfo is None:
            raise ValueError
        return when, method, sort_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise serializers.ValidationError({"cursor": ["Invalid cursor: use the `next` link of a previous page."]})


class DepositOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    method = serializers.ChoiceField(choices=["card", "usdc"])
    network = serializers.CharField(allow_null=True)
    amount = serializers.DecimalField(max_digits=30, decimal_places=9, coerce_to_string=True)
    amount_nanos = serializers.IntegerField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    credited_at = serializers.DateTimeField(allow_null=True)
    reference = serializers.CharField(allow_blank=True)


def _deposit_data(row) -> dict:
    return {**asdict(row), "amount": nanos_to_usd(row.amount_nanos)}


class DepositsApi(APIView):
    """The current Account's deposits (card and USDC), newest first, with a cursor to the next page."""

    class InputSerializer(serializers.Serializer):
        cursor = serializers.CharField(required=False, max_length=500)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    OutputSerializer = DepositOutputSerializer

    @extend_schema(
        operation_id="deposits_list",
        parameters=[InputSerializer],
        responses=inline_serializer(
            "DepositPage",
            fields={"next": serializers.URLField(allow_null=True), "results": OutputSerializer(many=True)},
        ),
        summary="Deposits of the current Account (card and USDC), newest first; cursor pagination",
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        cursor = params.validated_data.get("cursor")
        rows, next_cursor = deposits_page(
            account=request_account(request),
            cursor=_cursor_decode(cursor) if cursor else None,
            limit=params.validated_data["limit"],
        )
        next_url = None
        if next_cursor:
            query = request.query_params.copy()
            query["cursor"] = _cursor_encode(next_cursor)
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        results = [_deposit_data(row) for row in rows]
        return Response({"next": next_url, "results": self.OutputSerializer(results, many=True).data})


class DepositDetailApi(APIView):
    """One deposit of the current Account; another tenant's is a 404."""

    OutputSerializer = DepositOutputSerializer

    @extend_schema(
        operation_id="deposits_get", responses=DepositOutputSerializer, summary="One deposit of the current Account"
    )
    def get(self, request, deposit_id):
        account = request_account(request)
        row = deposit_get(account=account, public_id=deposit_id) if account is not None else None
        if row is None:
            raise Http404
        return Response(self.OutputSerializer(_deposit_data(row)).data)


class NotificationsApi(APIView):
    """Low-balance notifications of the current Account, unread first, newest first."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        threshold = serializers.CharField()
        threshold_nanos = serializers.IntegerField()
        balance = serializers.CharField()
        balance_nanos = serializers.IntegerField()
        desktop = serializers.BooleanField()
        message = serializers.CharField()
        created_at = serializers.DateTimeField()
        read_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        responses=OutputSerializer(many=True),
        parameters=[OpenApiParameter("unread", bool, description="only unread notifications")],
        summary="Balance notifications (unread first)",
    )
    def get(self, request):
        from .selectors import notifications_for_account
        from .streams import notification_payload

        unread_only = request.query_params.get("unread", "").lower() in ("1", "true", "yes")
        rows = notifications_for_account(account=request_account(request), unread_only=unread_only)[:100]
        return Response(self.OutputSerializer([notification_payload(n) for n in rows], many=True).data)


class NotificationsReadApi(APIView):
    """Mark notifications read: the given ids, or all of them."""

    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)

    @extend_schema(
        request=InputSerializer,
        responses={200: dict},
        summary="Mark notifications read",
        operation_id="notifications_read_many",
    )
    def post(self, request):
        from .alerts import notifications_mark_read

        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data.get("ids")
        marked = notifications_mark_read(account=request_account(request), ids=ids)
        return Response({"marked": marked})


class NotificationReadApi(APIView):
    @extend_schema(
        request=None, responses={200: dict}, summary="Mark one notification read", operation_id="notification_read"
    )
    def post(self, request, notification_id):
        from accounts.scoping import scoped_get_or_404

        from .alerts import notifications_mark_read
        from .models import Notification

        notification = scoped_get_or_404(Notification.objects.all(), request, id=notification_id)
        notifications_mark_read(account=notification.account, ids=[notification.id])
        return Response({"marked": 1})
