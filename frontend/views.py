"""HTML pages: thin shells. Their data comes from the JSON API and the /ws/events/ socket."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from mqtt_app.models import MqttConnection, MqttTopic, Site

from .consumers import max_subscriptions

PAYLOAD_PREVIEW_CHARS = 4096


def _page(request: HttpRequest, template: str, nav: str, data: dict[str, Any], **context: Any) -> HttpResponse:
    """Render a page with its bootstrap data (read by the page's module from #page-data)."""
    data = {"is_staff": request.user.is_staff, "max_subscriptions": max_subscriptions(), **data}
    return render(request, template, {"nav": nav, "page": data, **context})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    sites = list(Site.objects.values("id", "name"))
    return _page(request, "frontend/dashboard.html", "dashboard", {"sites": sites})


@login_required
def connection_detail(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(MqttConnection.objects.select_related("site"), pk=connection_id)
    data = {"connection": connection.pk, "site": {"id": connection.site_id, "name": connection.site.name}}
    return _page(request, "frontend/connection.html", "dashboard", data, connection=connection)


@login_required
def topic_detail(request: HttpRequest, topic_id: int) -> HttpResponse:
    topic = get_object_or_404(MqttTopic.objects.select_related("connection__site"), pk=topic_id)
    data = {
        "topic": {
            "id": topic.pk,
            "topic": topic.topic,
            "is_processable": topic.is_processable,
            "parser": topic.parser_name,
        },
        "connection": topic.connection_id,
        "last_payload": topic.last_payload_text[:PAYLOAD_PREVIEW_CHARS],
        "export_limit": int(getattr(settings, "UI_EXPORT_LIMIT", 100_000)),
        "points_per_second": round(settings.MQTT_LIVE_TOPIC_POINTS_PER_SECOND),
    }
    return _page(request, "frontend/topic.html", "dashboard", data, topic=topic)


@login_required
def errors_inbox(request: HttpRequest) -> HttpResponse:
    connections = list(MqttConnection.objects.values("id", "name", "site__name"))
    return _page(request, "frontend/errors.html", "errors", {"connections": connections})
