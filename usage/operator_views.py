"""The operator portal: nodes (tested before they go live), pause and resume, prices, earnings and statements."""

import csv
from datetime import UTC, datetime, timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import account_required
from accounts.scoping import scoped_get_or_404
from billing.money import MoneyError, nanos_to_price_per_1k, nanos_to_usd, price_per_1k_to_nanos
from infer.errors import ApplicationError

from . import selectors, services
from .models import Node


def operator_required(view):
    """Operator pages for an operator Account; any other Account gets a 404 page saying why."""

    @account_required
    def wrapper(request, *args, **kwargs):
        if not request.account.is_operator:
            return render(request, "operators/not_operator.html", {"section": "nodes"}, status=404)
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _require_manager(request):
    """Registering, pricing and pausing change what the team earns: owners and admins only (a member sees)."""
    if not (request.membership and request.membership.can_manage):
        raise PermissionDenied("Only owners and admins of this team can change its nodes.")


def _node_or_404(request, code):
    """The request's Account's node; another operator's is a 404."""
    return scoped_get_or_404(Node.objects.all(), request, code=code)


class NodeRegisterForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="How you recognise it, e.g. gpu-1 (Frankfurt).")
    base_url = forms.CharField(
        label="Base URL",
        max_length=300,
        help_text="The OpenAI-compatible server's address, e.g. https://gpu1.example.com:8000/v1 (vLLM, "
        "llama.cpp server, Ollama, TGI). /v1 is added when missing.",
        widget=forms.TextInput(attrs={"inputmode": "url", "autocomplete": "off", "spellcheck": "false"}),
    )
    api_key = forms.CharField(
        label="Key to reach it (optional)",
        max_length=300,
        required=False,
        help_text="Sent as <code>Authorization: Bearer …</code>. Stored to call your node; never shown again.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    models = forms.MultipleChoiceField(
        label="Models it serves",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one model."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["models"].choices = [
            (m.model_id, f"{m.display_name} ({m.tier.name})") for m in selectors.catalog_models()
        ]


class PriceForm(forms.Form):
    """Two fields per model the node serves: USD per 1K tokens for input and output; blank is the default."""

    def __init__(self, *args, rows, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            for direction in ("input", "output"):
                override = getattr(row, f"{direction}_override_nanos")
                self.fields[f"{row.model_id}:{direction}"] = forms.CharField(
                    label=f"{row.model_id} {direction} price per 1K tokens (USD)",
                    required=False,
                    max_length=20,
                    initial="" if override is None else _per_1k_text(override),
                    widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "default"}),
                )

    def clean(self):
        cleaned = super().clean()
        prices = {}
        for row in self.rows:
            pair = []
            for direction in ("input", "output"):
                name = f"{row.model_id}:{direction}"
                text = (cleaned.get(name) or "").strip()
                if not text:
                    pair.append(None)
                    continue
                try:
                    nanos = price_per_1k_to_nanos(text.removeprefix("$"))
                    if nanos > services.MAX_PRICE_NANOS_PER_TOKEN:
                        raise MoneyError("Price per 1K tokens is at most $1,000")
                except MoneyError as exc:
                    self.add_error(name, f"{row.model_id}, {direction}: {exc}.")
                    nanos = None
                pair.append(nanos)
            prices[row.model_id] = tuple(pair)
        cleaned["prices"] = prices
        return cleaned

    def bound_rows(self):
        """(price row, input field, output field) for the template's table."""
        return [(row, self[f"{row.model_id}:input"], self[f"{row.model_id}:output"]) for row in self.rows]


def _per_1k_text(nanos: int) -> str:
    return f"{nanos_to_price_per_1k(nanos):f}"


@operator_required
def nodes_page(request):
    nodes = selectors.nodes_of(account=request.account)
    can_manage = bool(request.membership and request.membership.can_manage)
    return render(request, "operators/nodes.html", {"section": "nodes", "nodes": nodes, "can_manage": can_manage})


@operator_required
def node_new(request):
    _require_manager(request)
    form = NodeRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            node = services.node_register(
                account=request.account,
                name=data["name"],
                base_url=data["base_url"],
                api_key=data["api_key"],
                model_ids=data["models"],
            )
        except ApplicationError as exc:
            form.add_error(
                "name" if exc.code == "duplicate_name" else "base_url" if exc.code == "invalid_url" else None,
                exc.message,
            )
        else:
            if node.status == Node.Status.ACTIVE:
                messages.success(request, f"{node.name} answered a test request and is live.")
            else:
                messages.error(request, f"{node.name} is registered but inactive: {node.check_error}")
            return redirect("node-detail", code=node.code)
    status = 400 if request.method == "POST" else 200
    return render(request, "operators/node_new.html", {"section": "nodes", "form": form}, status=status)


@operator_required
def node_detail(request, code):
    node = _node_or_404(request, code)
    rows = selectors.node_prices(node=node)
    form = PriceForm(request.POST or None, rows=rows)
    status = 200
    if request.method == "POST":
        _require_manager(request)
        if form.is_valid():
            try:
                services.node_prices_set(node=node, prices=form.cleaned_data["prices"])
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Prices saved: the next request to this node is charged at them.")
                return redirect("node-detail", code=node.code)
        status = 400
    can_manage = bool(request.membership and request.membership.can_manage)
    if not can_manage:
        for field in form.fields.values():
            field.disabled = True  # a member sees the prices, without inputs that look editable
    context = {"section": "nodes", "node": node, "form": form, "can_manage": can_manage}
    return render(request, "operators/node.html", context, status=status)


@require_POST
@operator_required
def node_action(request, code, action):
    node = _node_or_404(request, code)  # first: another team's node is a 404, not a 403
    _require_manager(request)
    try:
        if action == "pause":
            services.node_pause(node=node)
            messages.success(request, f"{node.name} is paused: it gets no new requests until you resume it.")
        elif action == "resume":
            services.node_resume(node=node)
            messages.success(request, f"{node.name} is active again.")
        else:  # "test": the URL pattern allows only these three
            error = services.node_check(node=node)
            node.refresh_from_db()
            if error:
                messages.error(request, f"The test request failed: {error}")
            elif node.status == Node.Status.ACTIVE:
                messages.success(request, f"{node.name} answered the test request and is live.")
            else:
                messages.success(request, f"{node.name} answered the test request.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("node-detail", code=node.code)


# --- Earnings -----------------------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM, CHART_TOP = 720, 220, 64, 28, 12


def _chart(days) -> dict:
    """Bar geometry for 30 days of earnings, drawn as SVG by the template (no JavaScript, no downloads)."""
    peak = max((nanos for _, nanos in days), default=0)
    plot_height = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    slot = (CHART_WIDTH - CHART_LEFT - 24) / max(len(days), 1)  # room on the right for the last date
    bars = []
    for index, (day, nanos) in enumerate(days):
        height = round(plot_height * nanos / peak, 1) if peak else 0
        bars.append(
            {
                "day": day,
                "nanos": nanos,
                "x": round(CHART_LEFT + index * slot + slot * 0.15, 1),
                "width": round(slot * 0.7, 1),
                "y": round(CHART_TOP + plot_height - height, 1),
                "height": height,
                "label_x": round(CHART_LEFT + index * slot + slot / 2, 1),
                "labelled": index % 5 == 4 or index == len(days) - 1,  # a date under every 5th bar
            }
        )
    return {
        "bars": bars,
        "peak": peak,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "base_y": CHART_HEIGHT - CHART_BOTTOM,
        "top_y": CHART_TOP,
        "label_y": CHART_HEIGHT - 8,
    }


def _today():
    return timezone.now().astimezone(UTC).date()


@operator_required
def earnings_page(request):
    today = _today()
    summary = selectors.operator_earnings_summary(operator_account=request.account, today=today)
    context = {
        "section": "earnings",
        "summary": summary,
        "chart": _chart(summary.days),
        "this_month": f"{today:%Y-%m}",
    }
    return render(request, "operators/earnings.html", context)


@operator_required
def earnings_statement(request):
    """The earnings statement of one month as CSV: one line per day × node × model, amounts exact."""
    text = request.GET.get("month") or f"{_today():%Y-%m}"
    try:
        first = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        messages.error(request, f"Choose a month as YYYY-MM (got {text[:20]!r}).")
        return redirect("earnings")
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    rows = selectors.operator_earnings_rows(operator_account=request.account, start=first, end=last)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="infer-earnings-{first:%Y-%m}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["date", "node", "model", "requests", "input_tokens", "output_tokens", "buyer_cost_usd", "earnings_usd"]
    )
    for row in rows:
        writer.writerow(
            [
                row["day"].isoformat(),
                row["node_name"] or "",
                row["model"],
                row["requests"],
                row["input_tokens"],
                row["output_tokens"],
                f"{nanos_to_usd(row['cost_nanos']):f}",
                f"{nanos_to_usd(row['earnings_nanos']):f}",
            ]
        )
    return response
