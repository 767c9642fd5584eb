"""Alert rules: `GET/POST /api/alert-rules`, `GET/PATCH/DELETE /api/alert-rules/{id}`, `POST .../{id}/test`.

Viewers read a site's rules (without channel targets); managers create, change and delete them and see their
targets and webhook secrets. Every change is in the audit trail (targets and secrets masked).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from ninja import Field, Query, Router, Schema, Status

from mqtt_app import access
from mqtt_app.alerts.channels import DeliveryError, send, test_message
from mqtt_app.alerts.models import AlertRule, NotificationChannel
from mqtt_app.services import audit

from . import auth
from .alert_channels import channel_out, channels_from
from .alert_schemas import RuleIn, RuleOut, RulePatch, RuleTestOut
from .auth import ApiRequest
from .errors import field_error
from .pagination import PageParams, filter_by, page_of, paginate
from .schemas import ERRORS_READ, ERRORS_WRITE
from .writes import get_for, save_validated

logger = logging.getLogger(__name__)
router = Router(tags=["alerts"], auth=auth.readers())
RulePage = page_of(RuleOut, "AlertRulePage")
PLAIN_FIELDS = ("name", "kind", "filter", "metric", "op", "value", "clear_value", "for_seconds", "is_enabled")
AUDIT_FIELDS = ("site", "connection", "topic", *PLAIN_FIELDS)


class RuleFilters(Schema):
    site: int | None = Field(None, description="Only this site's rules.")
    kind: str | None = None


def _rules() -> Any:  # noqa: ANN401
    open_alerts = Count("alerts", filter=Q(alerts__resolved_at__isnull=True))
    return AlertRule.objects.annotate(firing=open_alerts).prefetch_related("channels").order_by("name", "id")


def rule_out(rule: AlertRule, user: Any) -> dict[str, Any]:  # noqa: ANN401
    return rule_row(rule, access.site_ids(user, access.MANAGER))


def rule_row(rule: AlertRule, managed: set[int] | None) -> dict[str, Any]:
    """`managed`: the sites whose managers see channel targets (None: all), read once for a whole list."""
    manager = managed is None or rule.site_id in managed
    out = {field: getattr(rule, field) for field in ("id", *PLAIN_FIELDS, "created_at", "updated_at")}
    out |= {"site": rule.site_id, "connection": rule.connection_id, "topic": rule.topic_id, "op": rule.op or None,
            "firing": getattr(rule, "firing", 0),
            "channels": [channel_out(channel, manager) for channel in rule.channels.all()]}  # fmt: skip
    return out


def _apply_scope(user: Any, rule: AlertRule, data: dict[str, Any]) -> None:  # noqa: ANN401
    """Exactly one of site, connection, topic; the rule's site is derived, and the caller must manage it."""
    from mqtt_app.models import MqttConnection, MqttTopic, Site

    given = [name for name in ("site", "connection", "topic") if data.get(name) is not None]
    if len(given) != 1:
        raise field_error("site", "give exactly one of site, connection, topic (the rule's scope)")
    name = given[0]
    models: dict[str, Any] = {"site": Site, "connection": MqttConnection, "topic": MqttTopic}
    # An object the caller cannot see reads as one that does not exist; one they only view is a 403 below.
    obj = access.filter_for(user, models[name].objects.all()).filter(pk=data[name]).first()
    if obj is None:
        raise field_error(name, f"no {name} with id {data[name]}")
    topic = obj if name == "topic" else None
    connection = obj if name == "connection" else (topic.connection if topic else None)
    site_id = obj.pk if name == "site" else connection.site_id  # type: ignore[union-attr] # set for both
    access.require_site(user, site_id, access.MANAGER)
    rule.site_id, rule.connection, rule.topic = site_id, connection, topic


def _save(request: ApiRequest, rule: AlertRule, data: dict[str, Any], creating: bool) -> None:
    if creating or {"site", "connection", "topic"} & data.keys():
        _apply_scope(request.auth, rule, data)
    for field in PLAIN_FIELDS:
        if field in data:
            if data[field] is None and field in ("name", "kind", "filter", "metric", "for_seconds", "is_enabled"):
                raise field_error(field, "must not be null")
            setattr(rule, field, data[field] if data[field] is not None else ("" if field == "op" else None))
    channels = channels_from(data["channels"]) if data.get("channels") is not None else None
    with transaction.atomic():
        save_validated(rule)
        if channels is not None:
            rule.channels.all().delete()
            for channel in channels:
                channel.rule = rule
                channel.save()


def _channel_summary(rule: AlertRule) -> list[str]:
    return [channel.type for channel in rule.channels.all()]


@router.get("/alert-rules", response={200: RulePage, **ERRORS_READ}, summary="List alert rules")
def list_rules(request: ApiRequest, filters: Query[RuleFilters], page: Query[PageParams]) -> dict:
    rules = filter_by(access.filter_for(request.auth, _rules()), filters, {"site": "site_id", "kind": "kind"})
    managed = access.site_ids(request.auth, access.MANAGER)
    return paginate(rules, page.limit, page.offset, lambda rule: rule_row(rule, managed))


@router.post("/alert-rules", response={201: RuleOut, **ERRORS_WRITE}, summary="Create an alert rule")
def create_rule(request: ApiRequest, payload: RuleIn) -> Status:
    rule = AlertRule()
    _save(request, rule, payload.model_dump(), creating=True)
    after = {**audit.snapshot(rule, AUDIT_FIELDS), "channels": _channel_summary(rule)}
    audit.record(request.auth, "alert_rule.create", site_id=rule.site_id, connection_id=rule.connection_id,
                 target=rule.name, changes=audit.diff({}, after))  # fmt: skip
    return Status(201, rule_out(_rules().get(pk=rule.pk), request.auth))


@router.get("/alert-rules/{rule_id}", response={200: RuleOut, **ERRORS_READ}, summary="One alert rule")
def get_rule(request: ApiRequest, rule_id: int) -> dict:
    return rule_out(get_for(request.auth, _rules(), rule_id, "alert rule"), request.auth)


@router.patch("/alert-rules/{rule_id}", response={200: RuleOut, **ERRORS_WRITE}, summary="Change an alert rule")
def patch_rule(request: ApiRequest, rule_id: int, payload: RulePatch) -> dict:
    rule = get_for(request.auth, AlertRule.objects.all(), rule_id, "alert rule", access.MANAGER)
    before = {**audit.snapshot(rule, AUDIT_FIELDS), "channels": _channel_summary(rule)}
    _save(request, rule, payload.model_dump(exclude_unset=True), creating=False)
    after = {**audit.snapshot(rule, AUDIT_FIELDS), "channels": _channel_summary(rule)}
    changes = audit.diff(before, after)
    if payload.channels is not None:
        changes.setdefault("channels", {"old": before["channels"], "new": after["channels"]})  # targets may change
    audit.record(request.auth, "alert_rule.change", site_id=rule.site_id, connection_id=rule.connection_id,
                 target=rule.name, changes=changes)  # fmt: skip
    return rule_out(_rules().get(pk=rule.pk), request.auth)


@router.delete("/alert-rules/{rule_id}", response={204: None, **ERRORS_WRITE}, summary="Delete an alert rule")
def delete_rule(request: ApiRequest, rule_id: int) -> Status:
    rule = get_for(request.auth, AlertRule.objects.all(), rule_id, "alert rule", access.MANAGER)
    rule.delete()
    audit.record(request.auth, "alert_rule.delete", site_id=rule.site_id, connection_id=rule.connection_id,
                 target=rule.name)  # fmt: skip
    return Status(204, None)


@router.post(
    "/alert-rules/{rule_id}/test", response={200: RuleTestOut, **ERRORS_WRITE},
    summary="Send a test notification to each of the rule's channels now",
)  # fmt: skip
def test_rule(request: ApiRequest, rule_id: int) -> dict:
    rule = get_for(request.auth, AlertRule.objects.all(), rule_id, "alert rule", access.MANAGER)
    results = []
    for channel in NotificationChannel.objects.filter(rule=rule):
        try:
            ok, error = send(channel.pk, test_message(channel)), ""
            error = "" if ok else "refused (see the server log)"
        except DeliveryError as exc:
            ok, error = False, str(exc)[:300]
        results.append({"id": channel.pk, "type": channel.type, "ok": ok, "error": error})
    logger.info("test notification of rule %s by %s: %s", rule.pk, request.auth, results)
    return {"channels": results}
