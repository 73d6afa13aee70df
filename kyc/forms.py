"""Forms of the KYC portal page and the staff actions in the admin."""

from django import forms

from billing.money import MoneyError, usd_to_nanos

from .countries import COUNTRIES


class KYCForm(forms.Form):
    legal_name = forms.CharField(max_length=200, required=False, help_text="As it appears on your identity document.")
    date_of_birth = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    country = forms.ChoiceField(choices=[("", "Choose a country"), *COUNTRIES], required=False)
    address = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    identity_document = forms.FileField(
        required=False,
        help_text="Passport, national ID card or driving licence: JPEG, PNG or PDF.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,application/pdf"}),
    )
    selfie = forms.FileField(
        required=False,
        help_text="Optional: a photo of you holding the document (JPEG or PNG or PDF).",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,application/pdf"}),
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="The operator sees this reason in the portal and in the email.",
    )


class ResolveForm(forms.Form):
    resolution = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), label="How it was resolved")


class AdjustmentForm(forms.Form):
    amount = forms.CharField(
        label="Amount (USD)",
        help_text="Positive credits the account (INFER owes it more), negative debits it. E.g. 12.50 or -3.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), help_text="Kept with the transaction."
    )

    def clean_amount(self):
        try:
            nanos = usd_to_nanos(self.cleaned_data["amount"])
        except MoneyError as exc:
            raise forms.ValidationError(str(exc)) from None
        if nanos == 0:
            raise forms.ValidationError("The amount cannot be zero.")
        return nanos
