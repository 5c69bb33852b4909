from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


class CheckoutForm(forms.Form):
    email = forms.EmailField(label=_("Email"))


class RefundForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), min_value=Decimal("0.01"), decimal_places=2)

    def __init__(self, *args: Any, refundable: Decimal | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refundable = refundable

    def clean_amount(self) -> Decimal:
        amount: Decimal = self.cleaned_data["amount"]
        if self.refundable is not None and amount > self.refundable:
            raise forms.ValidationError(
                _("At most %(left)s is left to refund.") % {"left": self.refundable}
            )
        return amount
