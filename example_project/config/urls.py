from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # FirstPromoter's webhooks: reward status (approved, denied, paid) for the admin.
    path("firstpromoter/", include("django_firstpromoter.urls")),
    path("", include("shop.urls")),
]
