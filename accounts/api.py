"""JSON API for API keys (`/api/keys`): list, create (shown once), set a spend limit, revoke."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.money import MoneyError, nanos_to_usd, usd_to_nanos
from infer.errors import ApplicationError

from . import selectors, services
from .authentication import KeyPrincipal
from .models import APIKey
from .scoping import request_account, request_membership, scoped_get_or_404


class KeyOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    status = serializers.SerializerMethodField()
    spend_limit = serializers.SerializerMethodField()
    spend_limit_nanos = serializers.IntegerField(allow_null=True)
    spend_limit_period = serializers.CharField(allow_blank=True)
    period_spent_nanos = serializers.IntegerField()

    def get_status(self, key) -> str:
        return "active" if key.is_active else "revoked"

    def get_spend_limit(self, key) -> str | None:
        return None if key.spend_limit_nanos is None else str(nanos_to_usd(key.spend_limit_nanos))


class SpendLimitInputSerializer(serializers.Serializer):
    """A limit as a USD string ("25.00") or integer nanos; null (or absent) means no limit."""

    spend_limit = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=30)
    spend_limit_nanos = serializers.IntegerField(required=False, allow_null=True)
    spend_limit_period = serializers.ChoiceField(choices=APIKey.Period.choices, required=False, allow_blank=True)

    def validate(self, data):
        usd, nanos = data.get("spend_limit"), data.get("spend_limit_nanos")
        if usd not in (None, "") and nanos is not None:
            raise serializers.ValidationError("Give spend_limit (USD) or spend_limit_nanos, not both.")
        if usd not in (None, ""):
            try:
                nanos = usd_to_nanos(usd)
            except MoneyError as exc:
                raise serializers.ValidationError({"spend_limit": str(exc)}) from None
        if nanos is not None and not data.get("spend_limit_period"):
            raise serializers.ValidationError({"spend_limit_period": "Choose daily, weekly or monthly."})
        data.pop("spend_limit", None)
        data["spend_limit_nanos"] = nanos
        data["spend_limit_period"] = data.get("spend_limit_period", "") if nanos else ""
        return data


def _require_manager(request):
    """Creating keys and changing limits needs a signed-in owner or admin: a key cannot mint keys."""
    membership = request_membership(request)
    if isinstance(request.user, KeyPrincipal) or membership is None:
        raise ApplicationError(
            "Sign in to the portal as an owner or admin to manage API keys", code="forbidden", status_code=403
        )
    if not membership.can_manage:
        raise ApplicationError("Only owners and admins can manage API keys", code="forbidden", status_code=403)
    return membership


class KeyListApi(APIView):
    class InputSerializer(SpendLimitInputSerializer):
        name = serializers.CharField(max_length=100)

    class OutputSerializer(KeyOutputSerializer):
        key = serializers.CharField(help_text="The full key. Shown in this response only.")

    @extend_schema(responses=KeyOutputSerializer(many=True), summary="The Account's API keys, active first")
    def get(self, request):
        account = request_account(request)
        keys = selectors.api_keys_for_account(account=account) if account else APIKey.objects.none()
        return Response(KeyOutputSerializer(keys, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, summary="Create a key (shown once)")
    def post(self, request):
        membership = _require_manager(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, full_key = services.api_key_create(
            account=membership.account, name=data.validated_data["name"], created_by=request.user, **_limit(data)
        )
        key.key = full_key
        return Response(self.OutputSerializer(key).data, status=status.HTTP_201_CREATED)


def _limit(serializer) -> dict:
    return {k: serializer.validated_data[k] for k in ("spend_limit_nanos", "spend_limit_period")}


class KeyDetailApi(APIView):
    @extend_schema(responses=KeyOutputSerializer, summary="One API key of the Account")
    def get(self, request, public_id):
        key = scoped_get_or_404(APIKey.objects.select_related("created_by"), request, public_id=public_id)
        return Response(KeyOutputSerializer(key).data)


class KeySpendLimitApi(APIView):
    @extend_schema(request=SpendLimitInputSerializer, responses=KeyOutputSerializer, summary="Set or remove a limit")
    def put(self, request, public_id):
        key = scoped_get_or_404(APIKey.objects.select_related("created_by"), request, public_id=public_id)
        _require_manager(request)
        data = SpendLimitInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = services.api_key_spend_limit_set(api_key=key, **_limit(data))
        return Response(KeyOutputSerializer(key).data)


class KeyRevokeApi(APIView):
    @extend_schema(request=None, responses=KeyOutputSerializer, summary="Revoke a key (at once; cannot be undone)")
    def post(self, request, public_id):
        key = scoped_get_or_404(APIKey.objects.select_related("created_by"), request, public_id=public_id)
        # A key may revoke itself or another key of its Account (that only takes access away);
        # a signed-in person must be an owner or admin.
        if not isinstance(request.user, KeyPrincipal):
            _require_manager(request)
        key = services.api_key_revoke(api_key=key)
        return Response(KeyOutputSerializer(key).data)
