"""JSON API for payouts: request one (with an Idempotency-Key), list them, list destinations."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import KeyPrincipal
from accounts.scoping import request_account, scoped, scoped_get_or_404
from billing.money import MoneyError, nanos_to_usd, usd_to_nanos
from infer.errors import ApplicationError

from .models import Payout, PayoutDestination
from .selectors import payout_summary
from .services import payout_request


def acting_user(request):
    """The person confirming with TOTP: the signed-in user, or for an API key the member who created it."""
    if isinstance(request.user, KeyPrincipal):
        return request.user.api_key.created_by
    return request.user


@extend_schema_serializer(component_name="Payout")
class PayoutOutputSerializer(serializers.Serializer):
    code = serializers.UUIDField()
    status = serializers.CharField()
    amount = serializers.SerializerMethodField()
    amount_nanos = serializers.IntegerField()
    destination = serializers.UUIDField(source="destination.code")
    destination_description = serializers.CharField(source="destination.describe")
    network = serializers.CharField()
    to_address = serializers.CharField()
    tx_hash = serializers.CharField()
    external_reference = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField()
    rejected_at = serializers.DateTimeField()
    failed_at = serializers.DateTimeField()

    def get_amount(self, obj) -> str:
        return f"{nanos_to_usd(obj.amount_nanos):f}"


class NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"


class PayoutListApi(APIView):
    @extend_schema_serializer(component_name="PayoutRequest")
    class InputSerializer(serializers.Serializer):
        destination = serializers.UUIDField(help_text="The code of one of your payout destinations")
        amount = serializers.CharField(help_text='USD as a decimal string, e.g. "25.00" (whole cents)')
        totp_code = serializers.CharField(
            allow_blank=True, help_text="The current code of your authenticator app (fresh MFA confirmation)"
        )

    @extend_schema(responses=PayoutOutputSerializer(many=True), summary="The current Account's payouts, newest first")
    def get(self, request):
        queryset = scoped(Payout.objects.select_related("destination"), request)
        status_filter = request.query_params.get("status")
        if status_filter:
            if status_filter not in Payout.Status.values:
                raise ApplicationError(
                    f"status must be one of {', '.join(Payout.Status.values)}", code="invalid_status"
                )
            queryset = queryset.filter(status=status_filter)
        paginator = NewestFirst()
        page = paginator.paginate_queryset(queryset, request, view=self)
        response = paginator.get_paginated_response(PayoutOutputSerializer(page, many=True).data)
        summary = payout_summary(account=request_account(request))
        response.data["withdrawable"] = f"{nanos_to_usd(summary['withdrawable_nanos']):f}"
        response.data["withdrawable_nanos"] = summary["withdrawable_nanos"]
        return response

    @extend_schema(
        request=InputSerializer,
        responses={201: PayoutOutputSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=True,
                description="Same key and body: the same payout again; same key, another body: 409",
            )
        ],
        summary="Request a payout of operator earnings",
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key", "")
        if not key.strip():
            raise ApplicationError(
                "Send an Idempotency-Key header (any unique string per payout)", code="idempotency_key"
            )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            amount_nanos = usd_to_nanos(data["amount"])
        except MoneyError as exc:
            raise serializers.ValidationError({"amount": [str(exc)]}) from None
        destination = scoped_get_or_404(PayoutDestination.objects.all(), request, code=data["destination"])
        payout, replayed = payout_request(
            account=request_account(request),
            user=acting_user(request),
            destination=destination,
            amount_nanos=amount_nanos,
            totp_code=data["totp_code"],
            idempotency_key=key,
        )
        response = Response(PayoutOutputSerializer(payout).data, status=status.HTTP_201_CREATED)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class PayoutDetailApi(APIView):
    @extend_schema(responses=PayoutOutputSerializer, summary="One payout of the current Account")
    def get(self, request, code):
        payout = scoped_get_or_404(Payout.objects.select_related("destination"), request, code=code)
        return Response(PayoutOutputSerializer(payout).data)


class DestinationListApi(APIView):
    @extend_schema_serializer(component_name="PayoutDestination")
    class OutputSerializer(serializers.Serializer):
        code = serializers.UUIDField()
        kind = serializers.CharField()
        label = serializers.CharField()
        network = serializers.CharField()
        address = serializers.CharField()
        description = serializers.CharField(source="describe")
        created_at = serializers.DateTimeField()
        changed_at = serializers.DateTimeField()
        usable_from = serializers.DateTimeField(source="unlocks_at")

    @extend_schema(responses=OutputSerializer(many=True), summary="The current Account's payout destinations")
    def get(self, request):
        queryset = scoped(PayoutDestination.objects.filter(removed_at__isnull=True), request).order_by("-created_at")
        return Response(self.OutputSerializer(queryset, many=True).data)
