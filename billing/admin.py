"""Back office for billing: the ledger is read-only here; corrections are new transactions."""

from django.contrib import admin

from .models import (
    CardDispute,
    CardPayment,
    CatalogModel,
    ChainCursor,
    ChainDeposit,
    DepositAddress,
    Entry,
    Hold,
    LedgerAccount,
    Tier,
    Transaction,
)
from .money import format_cost
from .selectors import ledger_account_balance


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ["ledger_account", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount")
    def amount(self, obj):
        return format_cost(obj.amount_nanos)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["key", "kind", "owner", "balance", "held", "in_flight"]
    list_filter = ["kind"]
    search_fields = ["key", "owner__name"]

    @admin.display(description="Balance")
    def balance(self, obj):
        return format_cost(ledger_account_balance(obj))

    @admin.display(description="Held")
    def held(self, obj):
        return format_cost(obj.held_nanos)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "idempotency_key", "memo", "created_at"]
    list_filter = ["kind"]
    search_fields = ["idempotency_key", "reference", "memo"]
    date_hierarchy = "created_at"
    inlines = [EntryInline]
    show_full_result_count = False


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "transaction", "ledger_account", "amount_nanos"]
    search_fields = ["ledger_account__key", "transaction__idempotency_key"]
    list_select_related = ["transaction", "ledger_account"]
    show_full_result_count = False


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["key", "ledger_account", "kind", "amount_nanos", "created_at", "expires_at", "released_at"]
    list_filter = ["kind", "released_at"]


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "input_price_nanos", "output_price_nanos"]


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    list_display = ["model_id", "display_name", "tier", "context_length", "tokenizer", "is_active"]
    list_filter = ["tier", "is_active"]


# --- USDC deposits: read-only; the scanners are the only writers ---------------------------------------


@admin.register(DepositAddress)
class DepositAddressAdmin(ReadOnlyAdmin):
    list_display = ["account", "network", "address", "derivation_index", "created_at"]
    list_filter = ["network"]
    search_fields = ["address", "token_account", "account__name"]


@admin.register(ChainDeposit)
class ChainDepositAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "network", "amount", "status", "tx_hash", "block_number"]
    list_filter = ["network", "status"]
    search_fields = ["tx_hash", "from_address", "to_address", "account__name"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="Amount")
    def amount(self, obj):
        return format_cost(obj.amount_nanos)


@admin.register(ChainCursor)
class ChainCursorAdmin(ReadOnlyAdmin):
    list_display = ["network", "block_number", "updated_at"]


class CardDisputeInline(admin.TabularInline):
    model = CardDispute
    fields = ["dispute_id", "status", "stripe_status", "reason", "amount_nanos", "debited_nanos", "reinstated_nanos"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CardPayment)
class CardPaymentAdmin(ReadOnlyAdmin):
    """Card deposits as Stripe reported them; money moves only through verified webhooks."""

    list_display = ["code", "account", "status", "amount", "credited", "refunded", "created_at", "credited_at"]
    list_filter = ["status"]
    search_fields = ["code", "account__name", "checkout_session_id", "payment_intent_id", "charge_id"]
    list_select_related = ["account"]
    inlines = [CardDisputeInline]
    show_full_result_count = False

    @admin.display(description="Amount")
    def amount(self, obj):
        return format_cost(obj.amount_nanos)

    @admin.display(description="Credited")
    def credited(self, obj):
        return format_cost(obj.credited_nanos)

    @admin.display(description="Refunded")
    def refunded(self, obj):
        return format_cost(obj.refunded_nanos)


@admin.register(CardDispute)
class CardDisputeAdmin(ReadOnlyAdmin):
    list_display = ["dispute_id", "account", "status", "stripe_status", "amount_nanos", "created_at", "closed_at"]
    list_filter = ["status"]
    search_fields = ["dispute_id", "account__name"]
    list_select_related = ["account"]
