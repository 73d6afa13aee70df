"""Portal forms for billing: the card deposit amount."""

from django import forms

from .card_services import DepositRefused, card_amount_validate
from .money import MoneyError, usd_to_nanos


class CardDepositForm(forms.Form):
    amount = forms.CharField(
        label="Amount (USD)",
        max_length=20,
        error_messages={"required": "Enter the amount to add, e.g. 25.00."},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "25.00"}),
    )

    def clean_amount(self):
        text = self.cleaned_data["amount"].strip().replace(",", "").removeprefix("$").strip()
        try:
            nanos = usd_to_nanos(text)
        except MoneyError:
            raise forms.ValidationError("Enter an amount in US dollars, e.g. 25.00.") from None
        try:
            card_amount_validate(nanos)
        except DepositRefused as exc:
            raise forms.ValidationError(exc.message) from None
        return nanos
