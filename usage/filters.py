"""The usage-record filters shared by GET /api/usage and the portal's Usage logs page (django-filter)."""

import django_filters
from django import forms

from accounts.models import APIKey
from accounts.scoping import scoped
from billing.models import CatalogModel

from .models import Node, UsageRecord


def _own_keys(request):
    # Only the request's own keys are valid choices: another tenant's key id is "not a valid choice",
    # exactly like a key that does not exist.
    if request is None:
        return APIKey.objects.none()
    return scoped(APIKey.objects.all(), request)


class UsageFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end <= start:
            self.add_error("end", "`end` must be after `start`.")
        return cleaned


class UsageRecordFilter(django_filters.FilterSet):
    start = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="From", help_text="Records at or after this time (ISO 8601)"
    )
    end = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label="Until", help_text="Records before this time (ISO 8601)"
    )
    model = django_filters.ModelChoiceFilter(
        queryset=CatalogModel.objects.all(), to_field_name="model_id", help_text="A model id, e.g. qwen3-8b"
    )
    status = django_filters.ChoiceFilter(choices=UsageRecord.Status.choices)
    node = django_filters.ModelChoiceFilter(
        queryset=Node.objects.all(), to_field_name="code", help_text="A node's id (UUID) as /api/usage shows it"
    )
    api_key = django_filters.ModelChoiceFilter(
        queryset=_own_keys, to_field_name="public_id", label="API key", help_text="An API key's public id"
    )

    class Meta:
        model = UsageRecord
        form = UsageFilterForm
        fields = ["start", "end", "model", "status", "node", "api_key"]
