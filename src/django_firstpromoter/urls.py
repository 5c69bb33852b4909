"""``path("firstpromoter/", include("django_firstpromoter.urls"))`` routes FirstPromoter's
webhooks to ``/firstpromoter/webhook/`` (``reverse("firstpromoter:webhook")``)."""

from django.urls import path

from django_firstpromoter.webhooks import receive

app_name = "firstpromoter"

urlpatterns = [
    path("webhook/", receive, name="webhook"),
]
