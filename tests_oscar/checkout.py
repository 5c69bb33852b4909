"""A customer's checkout through Oscar's own views, with Django's test client."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse
from oscar.core.loading import get_model

ADDRESS = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "line1": "1 Tea Street",
    "line4": "London",
    "postcode": "N1 7RR",
    "country": "GB",
}


def visit(client: Client, ref_id: str) -> None:
    """A referral link's visit: ReferralMiddleware keeps its id in a cookie."""
    response = client.get(reverse("catalogue:index"), {"fpr": ref_id})
    assert response.status_code == 200
    assert response.cookies["_fprom_ref"].value == ref_id


def place_order(
    client: Client,
    product: Any,
    *,
    quantity: int = 2,
    voucher: str = "",
    email: str = "buyer@example.com",
    guest: bool = True,
) -> Any:
    """Basket, voucher, guest email (``guest=False``: signed in already), shipping
    address and method, preview, place order; the order placed (the thank-you page
    was shown)."""
    response = client.post(reverse("basket:add", kwargs={"pk": product.pk}), {"quantity": quantity})
    assert response.status_code == 302, response
    if voucher:
        response = client.post(reverse("basket:vouchers-add"), {"code": voucher})
        assert response.status_code == 302
    if guest:
        data = {"username": email, "options": "anonymous"}
        response = client.post(reverse("checkout:index"), data)
    else:  # Signed in: Oscar skips the gateway.
        response = client.get(reverse("checkout:index"))
    assert response["Location"] == reverse("checkout:shipping-address"), response
    response = client.post(reverse("checkout:shipping-address"), ADDRESS)
    assert response["Location"] == reverse("checkout:shipping-method"), response
    # One shipping method: Oscar picks it and moves on, as the payment method does.
    response = client.get(reverse("checkout:shipping-method"))
    assert response["Location"] == reverse("checkout:payment-method"), response
    response = client.get(reverse("checkout:payment-method"))
    assert response["Location"] == reverse("checkout:payment-details"), response
    response = client.get(reverse("checkout:preview"))
    assert response.status_code == 200, response
    response = client.post(reverse("checkout:preview"), {"action": "place_order"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == reverse("checkout:thank-you")
    thanks = client.get(response["Location"])
    assert thanks.status_code == 200
    order = thanks.context["order"]
    assert order == get_model("order", "Order").objects.get(number=order.number)
    return order
