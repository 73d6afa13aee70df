"""JSON API for billing: the balance."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.scoping import request_account

from .money import nanos_to_usd
from .selectors import balance_summary


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

    @extend_schema(request=InputSerializer, responses={200: dict}, summary="Mark notifications read")
    def post(self, request):
        from .alerts import notifications_mark_read

        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data.get("ids")
        marked = notifications_mark_read(account=request_account(request), ids=ids)
        return Response({"marked": marked})


class NotificationReadApi(APIView):
    @extend_schema(request=None, responses={200: dict}, summary="Mark one notification read")
    def post(self, request, notification_id):
        from accounts.scoping import scoped_get_or_404

        from .alerts import notifications_mark_read
        from .models import Notification

        notification = scoped_get_or_404(Notification.objects.all(), request, id=notification_id)
        notifications_mark_read(account=notification.account, ids=[notification.id])
        return Response({"marked": 1})
