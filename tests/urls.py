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


urlpatterns = [
    path("admin/", admin.site.urls),
    path("", landing),
    path("checkout/", checkout),
    path("firstpromoter/", include("django_firstpromoter.urls")),
]
