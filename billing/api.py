"""JSON API for billing: the balance."""

from drf_spectacular.utils import extend_schema
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
