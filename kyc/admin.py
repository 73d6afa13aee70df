"""The back office: KYC review queue and decisions, violations, manual ledger adjustments, the audit log.

Every decision goes through kyc.services, which checks the staff member's permission again and
writes the audit log; the admin only gathers input and shows results.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, F, IntegerField, Value, When
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join

from billing.admin import LedgerAccountAdmin as BillingLedgerAccountAdmin
from billing.models import LedgerAccount
from billing.money import format_cost

from . import services
from .countries import COUNTRY_NAMES
from .forms import AdjustmentForm, RejectForm, ResolveForm
from .models import KYCDocument, KYCEvent, KYCSubmission, LedgerAdjustment, StaffAction, Violation
from .services import KYCError


class AppendOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class KYCDocumentInline(AppendOnlyInline):
    model = KYCDocument
    fields = ["kind", "preview", "content_type", "size", "uploaded_at", "state"]
    readonly_fields = fields
    verbose_name_plural = "Documents"
    ordering = ["deleted_at", "kind", "-uploaded_at"]

    @admin.display(description="Document")
    def preview(self, obj):
        if obj.deleted_at or not obj.file:
            return "—"
        url = reverse("kyc-document", args=[obj.code])
        # Each load of these goes through the audited view, so every look is recorded.
        if obj.is_image:
            return format_html(
                '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="{}" class="kyc-doc-preview"></a>',
                url,
                url,
                obj.get_kind_display(),
            )
        return format_html('<a href="{}" target="_blank" rel="noopener">Open the PDF</a>', url)

    @admin.display(description="Size")
    def size(self, obj):
        if obj.size_bytes < 1024:
            return f"{obj.size_bytes} bytes"
        if obj.size_bytes < 1024 * 1024:
            return f"{obj.size_bytes / 1024:,.0f} KB"
        return f"{obj.size_bytes / 1048576:,.1f} MB"

    @admin.display(description="State")
    def state(self, obj):
        if obj.deleted_at:
            return f"{obj.deleted_reason or 'deleted'} {obj.deleted_at:%Y-%m-%d}"
        return "current"


class KYCEventInline(AppendOnlyInline):
    model = KYCEvent
    fields = ["created_at", "action", "actor", "reason"]
    readonly_fields = fields
    verbose_name_plural = "Decision history"


class CountryFilter(admin.SimpleListFilter):
    """Only the countries that have submissions (the full list of 249 would bury the other filters)."""

    title = "country"
    parameter_name = "country"

    def lookups(self, request, model_admin):
        codes = KYCSubmission.objects.exclude(country="").values_list("country", flat=True).distinct()
        return sorted(((code, COUNTRY_NAMES.get(code, code)) for code in codes), key=lambda item: item[1])

    def queryset(self, request, queryset):
        return queryset.filter(country=self.value()) if self.value() else queryset


class KYCStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("pending", "Pending review"), *KYCSubmission.Status.choices]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(status__in=KYCSubmission.PENDING)
        if self.value() in KYCSubmission.Status.values:
            return queryset.filter(status=self.value())
        return queryset


@admin.register(KYCSubmission)
class KYCSubmissionAdmin(admin.ModelAdmin):
    list_display = ["account", "legal_name", "country", "status", "submitted_at", "decided_at", "decided_by"]
    list_filter = [KYCStatusFilter, CountryFilter]
    search_fields = ["legal_name", "account__name", "account__code"]
    list_select_related = ["account", "decided_by"]
    fieldsets = [
        ("Operator", {"fields": ["account", "status", "rejection_reason"]}),
        ("Identity", {"fields": ["legal_name", "date_of_birth", "country", "address"]}),
        ("Dates", {"fields": ["created_at", "submitted_at", "decided_at", "decided_by"]}),
    ]
    readonly_fields = [f for _, spec in fieldsets for f in spec["fields"]]
    inlines = [KYCDocumentInline, KYCEventInline]
    actions = ["approve_selected", "reject_selected"]
    change_form_template = "admin/kyc/kycsubmission/change_form.html"

    def get_ordering(self, request):
        # The queue: pending submissions first, the longest-waiting at the top; then the rest.
        pending_first = Case(
            When(status__in=KYCSubmission.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        return [pending_first.asc(), F("submitted_at").asc(nulls_last=True), "id"]

    def has_add_permission(self, request):
        return False  # operators submit in the portal

    def has_change_permission(self, request, obj=None):
        return False  # details are the operator's; staff only decide (the review actions below)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_review_permission(self, request):
        return request.user.has_perm("kyc.review_kycsubmission")

    def get_urls(self):
        own = [
            path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view), name="kyc_kycsubmission_approve"),
            path("<int:pk>/reject/", self.admin_site.admin_view(self.reject_view), name="kyc_kycsubmission_reject"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_review": self.has_review_permission(request),
            "reject_form": RejectForm(),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _decide(self, request, submissions, decide, verb):
        done = 0
        for submission in submissions:
            try:
                decide(submission)
            except KYCError as exc:
                self.message_user(request, f"{submission.account}: {exc.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{verb} {done} submission(s); the operators are emailed.", messages.SUCCESS)
        return done

    def approve_view(self, request, pk):
        if request.method != "POST" or not self.has_review_permission(request):
            raise PermissionDenied
        submission = get_object_or_404(KYCSubmission, pk=pk)
        self._decide(
            request,
            [submission],
            lambda s: services.kyc_submission_approve(submission=s, actor=request.user),
            "Approved",
        )
        return HttpResponseRedirect(reverse("admin:kyc_kycsubmission_change", args=[pk]))

    def reject_view(self, request, pk):
        if not self.has_review_permission(request):
            raise PermissionDenied
        submission = get_object_or_404(KYCSubmission, pk=pk)
        return self._reject_form(request, [submission], single=True)

    def _reject_form(self, request, submissions, *, single):
        form = RejectForm(request.POST if request.POST.get("reason") is not None else None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._decide(
                request,
                submissions,
                lambda s: services.kyc_submission_reject(submission=s, actor=request.user, reason=reason),
                "Rejected",
            )
            if single:
                return HttpResponseRedirect(reverse("admin:kyc_kycsubmission_change", args=[submissions[0].pk]))
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Reject KYC submission" if single else "Reject KYC submissions",
            "submissions": submissions,
            "form": form,
            "single": single,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/kyc/kycsubmission/reject.html", context)

    @admin.action(description="Approve the selected submissions", permissions=["review"])
    def approve_selected(self, request, queryset):
        self._decide(
            request,
            list(queryset),
            lambda s: services.kyc_submission_approve(submission=s, actor=request.user),
            "Approved",
        )

    @admin.action(description="Reject the selected submissions (a reason is required)…", permissions=["review"])
    def reject_selected(self, request, queryset):
        return self._reject_form(request, list(queryset), single=False)


# --- Violations -------------------------------------------------------------------------------------


def _usage_search_url(request_id: str) -> str | None:
    """The admin search for a usage record, once the gateway registers its UsageRecord admin."""
    try:
        return reverse("admin:usage_usagerecord_changelist") + f"?q={request_id}"
    except NoReverseMatch:
        return None


class ViolationForm(forms.ModelForm):
    usage_request_ids = forms.CharField(
        required=False,
        label="Usage records",
        help_text="Request ids of the usage records that support it, one per line.",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
    )

    class Meta:
        model = Violation
        fields = ["account", "kind", "severity", "evidence", "usage_request_ids"]
        help_texts = {
            "severity": "Any open violation blocks payouts; a high one also takes the operator's nodes out of routing.",
            "evidence": "What happened, when, and where to look. The violation cannot be edited once filed.",
        }

    def clean_usage_request_ids(self):
        return [line.strip() for line in self.cleaned_data["usage_request_ids"].splitlines() if line.strip()]

    def clean_account(self):
        account = self.cleaned_data["account"]
        if not account.is_operator:
            raise forms.ValidationError("Violations are filed against operator accounts.")
        return account


class ViolationStatusFilter(admin.SimpleListFilter):
    title = "filed by"
    parameter_name = "automatic"

    def lookups(self, request, model_admin):
        return [("yes", "Automatic check"), ("no", "Staff")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(is_automatic=self.value() == "yes")
        return queryset


@admin.register(Violation)
class ViolationAdmin(admin.ModelAdmin):
    form = ViolationForm
    list_display = ["account", "kind", "severity", "status", "filed_at", "filer", "resolved_by", "resolved_at"]
    list_filter = ["status", "severity", "kind", ViolationStatusFilter]
    search_fields = ["account__name", "account__code", "evidence"]
    list_select_related = ["account", "filed_by", "resolved_by"]
    autocomplete_fields = ["account"]
    ordering = ["status", "-filed_at"]
    actions = ["resolve_selected"]
    change_form_template = "admin/kyc/violation/change_form.html"
    view_fields = [
        "account",
        "kind",
        "severity",
        "status",
        "evidence",
        "usage_links",
        "filer",
        "filed_at",
        "nodes_suspended",
        "resolved_by",
        "resolved_at",
        "resolution",
    ]

    def get_fields(self, request, obj=None):
        return self.view_fields if obj else ["account", "kind", "severity", "evidence", "usage_request_ids"]

    def get_readonly_fields(self, request, obj=None):
        # Once filed, a violation is a record: it changes only by being resolved (with a note).
        return self.view_fields if obj else []

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Filed by")
    def filer(self, obj):
        return "automatic check" if obj.is_automatic else obj.filed_by

    @admin.display(description="Usage records")
    def usage_links(self, obj):
        if not obj.usage_request_ids:
            return "—"
        parts = []
        for request_id in obj.usage_request_ids:
            url = _usage_search_url(request_id)
            if url:
                parts.append(format_html('<li><a href="{}"><code>{}</code></a></li>', url, request_id))
            else:
                parts.append(format_html("<li><code>{}</code></li>", request_id))
        return format_html('<ul class="kyc-usage-links">{}</ul>', format_html_join("", "{}", ((p,) for p in parts)))

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing is editable after filing
        try:
            violation = services.violation_file(
                account=form.cleaned_data["account"],
                kind=form.cleaned_data["kind"],
                severity=form.cleaned_data["severity"],
                evidence=form.cleaned_data["evidence"],
                usage_request_ids=form.cleaned_data["usage_request_ids"],
                filed_by=request.user,
            )
        except KYCError as exc:
            raise PermissionDenied(exc.message) from exc
        obj.pk = violation.pk
        obj.refresh_from_db()
        if violation.nodes_suspended:
            self.message_user(request, "The operator's nodes were taken out of routing.", messages.WARNING)

    def get_urls(self):
        own = [path("<int:pk>/resolve/", self.admin_site.admin_view(self.resolve_view), name="kyc_violation_resolve")]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_resolve": self.has_change_permission(request),
            "resolve_form": ResolveForm(),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _resolve(self, request, violations):
        form = ResolveForm(request.POST if request.POST.get("resolution") is not None else None)
        if request.method == "POST" and form.is_valid():
            done = 0
            for violation in violations:
                try:
                    services.violation_resolve(
                        violation=violation, actor=request.user, resolution=form.cleaned_data["resolution"]
                    )
                    done += 1
                except KYCError as exc:
                    self.message_user(request, f"{violation}: {exc.message}", messages.ERROR)
            if done:
                self.message_user(request, f"Resolved {done} violation(s).", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Resolve violations",
            "violations": violations,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/kyc/violation/resolve.html", context)

    def resolve_view(self, request, pk):
        if not self.has_change_permission(request):
            raise PermissionDenied
        violation = get_object_or_404(Violation, pk=pk)
        response = self._resolve(request, [violation])
        return response or HttpResponseRedirect(reverse("admin:kyc_violation_change", args=[pk]))

    @admin.action(description="Resolve the selected violations (a note is required)…", permissions=["change"])
    def resolve_selected(self, request, queryset):
        return self._resolve(request, list(queryset.filter(status=Violation.Status.OPEN)))


# --- Manual ledger adjustments ----------------------------------------------------------------------


@admin.register(LedgerAdjustment)
class LedgerAdjustmentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "ledger_account", "amount", "reason", "created_by", "transaction"]
    search_fields = ["ledger_account__key", "reason", "code"]
    list_select_related = ["ledger_account", "created_by", "transaction"]
    readonly_fields = ["code", "ledger_account", "amount", "reason", "transaction", "created_by", "created_at"]
    fields = readonly_fields

    @admin.display(description="Amount")
    def amount(self, obj):
        return format_cost(obj.amount_nanos)

    def has_add_permission(self, request):
        return False  # posted with the "Adjust balance" action on ledger accounts

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.unregister(LedgerAccount)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(BillingLedgerAccountAdmin):
    """billing's read-only ledger admin plus finance's one way to change a balance: an adjustment."""

    actions = ["adjust_balance"]

    def has_adjust_permission(self, request):
        return request.user.has_perm("kyc.add_ledgeradjustment")

    @admin.action(description="Adjust the balance (finance; a reason is required)…", permissions=["adjust"])
    def adjust_balance(self, request, queryset):
        accounts = list(queryset[:2])
        if len(accounts) != 1:
            self.message_user(request, "Select exactly one ledger account to adjust.", messages.ERROR)
            return None
        ledger_account = accounts[0]
        form = AdjustmentForm(request.POST if request.POST.get("reason") is not None else None)
        if request.method == "POST" and form.is_valid():
            try:
                adjustment = services.ledger_adjustment_post(
                    ledger_account=ledger_account,
                    amount_nanos=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except KYCError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                self.message_user(
                    request,
                    f"Posted {format_cost(adjustment.amount_nanos)} to {ledger_account} "
                    f"(transaction {adjustment.transaction_id}).",
                    messages.SUCCESS,
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Adjust {ledger_account}",
            "ledger_account": ledger_account,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/kyc/adjust_balance.html", context)


# --- Audit log --------------------------------------------------------------------------------------


@admin.register(StaffAction)
class StaffActionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_repr", "reason"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor__email", "object_id", "object_repr", "reason"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
