from decimal import Decimal

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path

from django_firstpromoter.referral import copy_referral
from tests.shop.models import Order


def landing(request: HttpRequest) -> JsonResponse:
    """What a view sees of the visitor's referral."""
    referral = getattr(request, "firstpromoter_referral", None)
    if referral is None:
        return JsonResponse({"referral": None})
    return JsonResponse({"referral": {"tid": referral.tid, "ref_id": referral.ref_id}})


def checkout(request: HttpRequest) -> HttpResponse:
    """A shop's checkout: the order is paid and keeps its referral in the same save."""
    with transaction.atomic():
        order = Order(email=request.POST["email"], total=Decimal(request.POST["total"]), paid=True)
        copy_referral(request, order)
        order.save()
    return HttpResponse(str(order.pk), status=201)


def checkout_in_steps(request: HttpRequest) -> HttpResponse:
    """A shop framework's checkout (Oscar's): the order is saved as it is built, and has
    no field for the referral: the app keeps it (``ReferralMiddleware``)."""
    with transaction.atomic():
        order = Order.objects.create(email=request.POST["email"], paid=True)  # created
        for price in request.POST.getlist("line"):  # its lines added, one save each
            order.total += Decimal(price)
            order.save()
        order.currency = request.POST.get("currency", "USD")  # paid, in the buyer's currency
        order.save()
    return HttpResponse(str(order.pk), status=201)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("", landing),
    path("checkout/", checkout),
    path("checkout-in-steps/", checkout_in_steps),
    path("firstpromoter/", include("django_firstpromoter.urls")),
]
