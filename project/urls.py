from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("mqtt_app.api.urls")),
    path("", include("mqtt_app.observability.urls")),
    path("", include("frontend.urls")),
]
