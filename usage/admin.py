"""Back office for usage: nodes (the key to reach a node is write-only), usage records (read-only)."""

from django import forms
from django.contrib import admin

from billing.money import format_cost

from .models import Node, NodeModel, UsageDaily, UsageRecord


class NodeForm(forms.ModelForm):
    base_url = forms.URLField(max_length=300, assume_scheme="https", label="Base URL (OpenAI-compatible, …/v1)")
    # The node's key is sent to the node, so it is stored; staff may replace it but never read it.
    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), label="Node API key")

    class Meta:
        model = Node
        fields = ["account", "name", "base_url", "api_key", "status", "suspended_reason"]

    def clean_api_key(self):
        value = self.cleaned_data.get("api_key")
        return value if value else (self.instance.api_key if self.instance.pk else "")


class NodeModelInline(admin.TabularInline):
    model = NodeModel
    extra = 0
    fields = ["model", "upstream_name", "input_price_nanos", "output_price_nanos"]


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    form = NodeForm
    list_display = ["name", "account", "base_url", "status", "last_success_at", "latency_ms", "error_rate_ppm"]
    list_filter = ["status"]
    search_fields = ["name", "account__name", "base_url", "code"]
    readonly_fields = [
        "code",
        "checked_at",
        "check_error",
        "last_success_at",
        "last_error_at",
        "latency_ms",
        "error_rate_ppm",
    ]
    inlines = [NodeModelInline]


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "account",
        "model",
        "node",
        "input_tokens",
        "output_tokens",
        "cost",
        "status",
        "verified",
        "metering_disagreement",
    ]
    list_filter = ["status", "verified", "metering_disagreement", "stream", "endpoint"]
    search_fields = ["request_id", "account__name", "node__name"]
    date_hierarchy = "created_at"
    list_select_related = ["account", "model", "node"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in UsageRecord._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Cost", ordering="cost_nanos")
    def cost(self, obj):
        return format_cost(obj.cost_nanos)


@admin.register(UsageDaily)
class UsageDailyAdmin(admin.ModelAdmin):
    """Read-only: the rollup is written only by usage_rollup."""

    list_display = ["day", "account", "operator_account", "node", "model", "requests", "errors", "cost"]
    list_filter = ["day"]
    list_select_related = ["account", "operator_account", "node", "model"]
    raw_id_fields = ["account", "operator_account", "node"]
    date_hierarchy = "day"

    @admin.display(description="Cost")
    def cost(self, obj):
        return format_cost(obj.cost_nanos)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
