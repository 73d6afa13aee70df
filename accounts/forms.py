"""Portal forms for accounts: what people type, checked and turned into the services' arguments."""

from django import forms

from billing.money import MoneyError, usd_to_nanos

from .models import APIKey, Membership

PERIOD_CHOICES = [
    (APIKey.Period.DAILY, "Resets daily"),
    (APIKey.Period.WEEKLY, "Resets weekly"),
    (APIKey.Period.MONTHLY, "Resets monthly"),
]


class SpendLimitFields(forms.Form):
    """A spend limit in USD (blank: no limit) and the period after which it resets."""

    spend_limit = forms.CharField(
        label="Spend limit (USD)",
        required=False,
        max_length=30,
        help_text="Leave blank for no limit. Requests with this key are refused once it is reached.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "e.g. 25.00", "autocomplete": "off"}),
    )
    spend_limit_period = forms.ChoiceField(label="Reset", choices=PERIOD_CHOICES, initial=APIKey.Period.MONTHLY)

    def clean_spend_limit(self):
        raw = self.cleaned_data["spend_limit"].strip().replace(",", "").removeprefix("$")
        if not raw:
            return None
        try:
            nanos = usd_to_nanos(raw)
        except MoneyError as exc:
            raise forms.ValidationError(f"Enter an amount in dollars, like 25.00 ({exc}).") from None
        if nanos <= 0:
            raise forms.ValidationError("A spend limit must be more than $0. Leave it blank for no limit.")
        return nanos


class APIKeyCreateForm(SpendLimitFields):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="Say where the key is used, like “production server” or “laptop”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"required": "Give the key a name so you can recognise it later."},
    )
    field_order = ["name", "spend_limit", "spend_limit_period"]


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(
        label="Role",
        choices=[(Membership.Role.MEMBER, "Member"), (Membership.Role.ADMIN, "Admin")],
        initial=Membership.Role.MEMBER,
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)


class AccountSettingsForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)
    is_buyer = forms.BooleanField(label="Buys inference (API keys, balance, usage)", required=False)
    is_operator = forms.BooleanField(label="Operates GPU nodes (earnings, payouts)", required=False)

    def clean(self):
        data = super().clean()
        if not data.get("is_buyer") and not data.get("is_operator"):
            raise forms.ValidationError("An account acts as a buyer, an operator, or both: choose at least one.")
        return data


class TeamCreateForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)
