"""The project's URLs plus a view that fails, for the Sentry test."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from mqtt_app.observability.sentry import set_connection_tags
from project.urls import urlpatterns as project_urls


def boom(request: HttpRequest) -> HttpResponse:
    set_connection_tags(7, site="View Site", topic="site/7/telemetry")
    password = request.headers.get("X-Broker-Password", "")  # noqa: F841 - a local Sentry must filter
    request.session["visited"] = True
    raise ValueError("the view failed on purpose")


urlpatterns = [path("ops-test/boom/", boom), *project_urls]
