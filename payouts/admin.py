"""Back office for payouts: the finance queue by status, with approve / reject / mark paid / mark failed actions.

Rows are read-only here; every change goes through payouts.services so the ledger moves with it.
Finance staff (the `finance` group) hold the payouts app's permissions; actions need `change`.
"""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from billing.money import format_usd
from infer.errors import ApplicationError

from . import services
from .models import Payout, PayoutDestination


class ReasonForm(forms.Form):
    text = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


def _with_text(modeladmin, request, queryset, *, title, label, help_text, apply):
    """An action that asks for one text (a reason, a reference) before it runs on each payout."""
    if "apply" in request.POST:
        form = ReasonForm(request.POST)
        if form.is_valid():
            done = 0
            for payout in queryset:
                try:
                    apply(payout, form.cleaned_data["text"])
                    done += 1
                except ApplicationError as exc:
                    modeladmin.message_user(request, f"{payout.code}: {exc.message}", messages.ERROR)
            modeladmin.message_user(request, f"{title}: {done} payout(s).", messages.SUCCESS)
            return None
    else:
        form = ReasonForm()
    form.fields["text"].label = label
    form.fields["text"].help_text = help_text
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "payouts": queryset,
        "action": request.POST.get("action"),
        "opts": modeladmin.model._meta,
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
    }
    return TemplateResponse(request, "admin/payouts/payout/action_text.html", context)


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = ["code", "account", "amount", "destination_kind", "status", "created_at", "approved_by", "reason"]
    list_filter = ["status", "network", "destination__kind", "auto_approved"]
    search_fields = ["code", "account__name", "to_address", "tx_hash", "external_reference"]
    date_hierarchy = "created_at"
    ordering = ["status", "created_at"]
    actions = ["approve", "reject", "mark_paid", "mark_failed"]
    list_select_related = ["account", "destination", "approved_by"]
    readonly_fields = [f.name for f in Payout._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount", ordering="amount_nanos")
    def amount(self, obj):
        return format_usd(obj.amount_nanos)

    @admin.display(description="Destination")
    def destination_kind(self, obj):
        return obj.destination.describe()

    @admin.action(description="Approve selected payouts", permissions=["change"])
    def approve(self, request, queryset):
        done = 0
        for payout in queryset:
            try:
                services.payout_approve(payout=payout, staff_user=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{payout.code}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Approved {done} payout(s).", messages.SUCCESS)

    @admin.action(description="Reject selected payouts (with a reason)", permissions=["change"])
    def reject(self, request, queryset):
        return _with_text(
            self,
            request,
            queryset,
            title="Reject payouts",
            label="Reason",
            help_text="The operator sees this reason.",
            apply=lambda p, text: services.payout_reject(payout=p, staff_user=request.user, reason=text),
        )

    @admin.action(description="Mark selected bank/Solana payouts paid (with a reference)", permissions=["change"])
    def mark_paid(self, request, queryset):
        return _with_text(
            self,
            request,
            queryset,
            title="Mark payouts paid",
            label="Reference",
            help_text="The bank transfer reference or Solana transaction signature.",
            apply=lambda p, text: services.payout_mark_paid(payout=p, staff_user=request.user, reference=text),
        )

    @admin.action(description="Mark selected payouts failed (with a reason)", permissions=["change"])
    def mark_failed(self, request, queryset):
        def fail(payout, text):
            if payout.signed_tx:
                # It may still be mined: reversing it by hand could pay the operator twice.
                raise ApplicationError("A signed wallet transfer is decided by the chain, not by hand")
            services.payout_fail(payout=payout, reason=text)

        return _with_text(
            self,
            request,
            queryset,
            title="Mark payouts failed",
            label="Reason",
            help_text="The operator sees this reason; the amount goes back to their earnings.",
            apply=fail,
        )


@admin.register(PayoutDestination)
class PayoutDestinationAdmin(admin.ModelAdmin):
    list_display = ["code", "account", "kind", "network", "address", "created_at", "changed_at", "removed_at"]
    list_filter = ["kind", "network"]
    search_fields = ["code", "account__name", "address", "stripe_account_id"]
    readonly_fields = [f.name for f in PayoutDestination._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
