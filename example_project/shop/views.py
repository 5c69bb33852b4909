from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from django_firstpromoter.models import Cancellation, Refund, Sale
from django_firstpromoter.referral import copy_referral, get_referral
from django_firstpromoter.signals import order_paid, order_refunded, subscription_cancelled
from shop.forms import CheckoutForm, RefundForm
from shop.models import Order
from shop.plans import PLANS


def storefront(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "shop/storefront.html",
        {"plans": PLANS.values(), "referral": get_referral(request)},
    )


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, plan: str) -> HttpResponse:
    chosen = PLANS.get(plan)
    if chosen is None:
        raise Http404("No such plan.")
    form = CheckoutForm(request.POST or None)
    if form.is_valid():
        order = Order(
            plan=chosen.slug, email=form.cleaned_data["email"], total=chosen.price, currency="USD"
        )
        copy_referral(request, order)
        order.save()
        return redirect("pay", number=order.number)
    return render(request, "shop/checkout.html", {"plan": chosen, "form": form})


@require_http_methods(["GET", "POST"])
def pay(request: HttpRequest, number: str) -> HttpResponse:
    """A stand-in for a payment provider's page and its webhook: "Pay" confirms the payment."""
    order = get_object_or_404(Order, number=number)
    if request.method == "POST":
        confirm_payment(order.pk)
        return redirect(order)
    if order.paid:
        return redirect(order)
    return render(request, "shop/pay.html", {"order": order, "plan": PLANS[order.plan]})


def confirm_payment(order_pk: int) -> None:
    """What a payment webhook handler does: mark the order paid and say so, in one
    transaction, so the sale is recorded if and only if the payment is."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_pk)
        if order.paid:
            return  # providers redeliver webhooks
        order.paid = True
        order.paid_at = timezone.now()
        order.save()
        order_paid.send(sender=Order, order=order)


def order_page(request: HttpRequest, number: str) -> HttpResponse:
    order = get_object_or_404(Order, number=number)
    # Empty, not the whole order: a refund is an amount someone chose, never one a
    # stray press sends. The field's placeholder says how much is left.
    return render_order(request, order, RefundForm())


def render_order(request: HttpRequest, order: Order, refund_form: RefundForm) -> HttpResponse:
    # A real shop would keep this for its staff; the demo shows it to the buyer so
    # the whole path of a sale, its refunds and its cancellation can be seen on one page.
    sale = Sale.objects.for_order(order).prefetch_related("rewards").first()
    refunds = list(Refund.objects.for_order(order).prefetch_related("rewards").order_by("pk"))
    cancellation = Cancellation.objects.filter(event_id=subscription_event_id(order)).first()
    # The operator's view of the same sale, a click away (the admin asks for a login).
    sale_admin_url = sale and reverse("admin:django_firstpromoter_sale_change", args=[sale.pk])
    waiting = [
        record
        for record in (sale, *refunds, cancellation)
        if record is not None and record.status in ("pending", "sending")
    ]
    context = {
        "order": order,
        "plan": PLANS[order.plan],
        "sale": sale,
        "sale_admin_url": sale_admin_url,
        "refunds": refunds,
        "cancellation": cancellation,
        "waiting": waiting,
        "refund_form": refund_form,
    }
    return render(request, "shop/order.html", context, status=400 if refund_form.errors else 200)


@require_POST
def refund(request: HttpRequest, number: str) -> HttpResponse:
    """What a shop's refund does: give money back and say so, in one transaction."""
    with transaction.atomic():
        order = get_object_or_404(Order.objects.select_for_update(), number=number)
        form = RefundForm(request.POST, refundable=order.refundable)
        if not form.is_valid():
            return render_order(request, order, form)
        order.refunded += form.cleaned_data["amount"]
        order.save()
        order_refunded.send(sender=Order, order=order)
    return redirect(order)


@require_POST
def cancel_subscription(request: HttpRequest, number: str) -> HttpResponse:
    """What a shop's billing does when a subscription ends."""
    with transaction.atomic():
        order = get_object_or_404(Order.objects.select_for_update(), number=number)
        if order.paid and order.cancelled_at is None:
            order.cancelled_at = timezone.now()
            order.save()
            subscription_cancelled.send(
                sender=Order, email=order.email, event_id=subscription_event_id(order)
            )
    return redirect(order)


def subscription_event_id(order: Order) -> str:
    # One subscription per order here: a second "Cancel" is the same cancellation.
    return f"order-{order.pk}-subscription"
