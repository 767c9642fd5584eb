"""HTML pages: thin shells. Their data comes from the JSON API and the /ws/events/ socket.

Each page shows only the sites the user holds a role on (mqtt_app.access): another site's connection or topic is
a 404, and the controls a page offers follow the user's role there.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from mqtt_app import access
from mqtt_app.models import MqttConnection, MqttTopic
from mqtt_app.sparkplug.tree import sparkplug_tree

from .consumers import max_subscriptions

PAYLOAD_PREVIEW_CHARS = 4096


def _page(request: HttpRequest, template: str, nav: str, data: dict[str, Any], **context: Any) -> HttpResponse:
    """Render a page with its bootstrap data (read by the page's module from #page-data)."""
    data = {"is_staff": request.user.is_staff, "max_subscriptions": max_subscriptions(), **data}
    may_change = access.sites_for(request.user, access.OPERATOR).exists()
    return render(request, template, {"nav": nav, "page": data, "may_change": may_change, **context})


def _site_ids(request: HttpRequest, role: str) -> list[int]:
    return sorted(access.sites_for(request.user, role).values_list("pk", flat=True))


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    sites = list(access.sites_for(request.user).values("id", "name"))
    data = {"sites": sites, "operable_sites": _site_ids(request, access.OPERATOR),
            "managed_sites": _site_ids(request, access.MANAGER)}  # fmt: skip
    return _page(request, "frontend/dashboard.html", "dashboard", data)


@login_required
def connection_detail(request: HttpRequest, connection_id: int) -> HttpResponse:
    connections = access.filter_for(request.user, MqttConnection.objects.select_related("site"))
    connection = get_object_or_404(connections, pk=connection_id)
    can_operate = access.can(request.user, connection, access.OPERATOR)
    can_manage = access.can(request.user, connection, access.MANAGER)
    data = {"connection": connection.pk, "site": {"id": connection.site_id, "name": connection.site.name},
            "can_operate": can_operate, "can_manage": can_manage}  # fmt: skip
    sparkplug = sparkplug_tree(connection.pk)  # shown only when the connection carries Sparkplug B
    return _page(request, "frontend/connection.html", "dashboard", data, connection=connection,
                 can_operate=can_operate, can_manage=can_manage,
                 sparkplug=sparkplug if sparkplug["groups"] or sparkplug["hosts"] else None)  # fmt: skip


@login_required
def topic_detail(request: HttpRequest, topic_id: int) -> HttpResponse:
    topic = get_object_or_404(access.filter_for(request.user, MqttTopic.objects.select_related("connection__site")),
                              pk=topic_id)  # fmt: skip
    can_operate = access.can(request.user, topic, access.OPERATOR)
    data = {
        "can_operate": can_operate,
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
    return _page(request, "frontend/topic.html", "dashboard", data, topic=topic, can_operate=can_operate)


@login_required
def errors_inbox(request: HttpRequest) -> HttpResponse:
    connections = list(access.filter_for(request.user, MqttConnection.objects.all()).values("id", "name", "site__name"))
    data = {"connections": connections, "operable_sites": _site_ids(request, access.OPERATOR)}
    return _page(request, "frontend/errors.html", "errors", data)


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """Your API tokens (create, revoke) and, on the sites you manage, those of the people holding a role there."""
    managed = list(access.sites_for(request.user, access.MANAGER).order_by("name").values("id", "name"))
    return _page(request, "frontend/tokens.html", "tokens", {"managed_sites": managed, "user": request.user.username})


@login_required
def alerts_page(request: HttpRequest) -> HttpResponse:
    """Alerts, firing first, with acknowledge buttons for operators, and the rule editor for managers."""
    sites = list(access.sites_for(request.user).values("id", "name"))
    connections = list(access.filter_for(request.user, MqttConnection.objects.all()).values("id", "name", "site_id"))
    data = {"sites": sites, "connections": connections, "operable_sites": _site_ids(request, access.OPERATOR),
            "managed_sites": _site_ids(request, access.MANAGER)}  # fmt: skip
    return _page(request, "frontend/alerts.html", "alerts", data)
