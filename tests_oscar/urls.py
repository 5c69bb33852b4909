from typing import Any

from django.apps import apps
from django.contrib import admin
from django.urls import include, path

# Oscar's own app config, whose ``urls`` Oscar's docs include.
oscar: Any = apps.get_app_config("oscar")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include(oscar.urls[0])),
]
