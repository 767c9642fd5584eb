"""What makes a rule complete, per kind: one message per field, shared by the admin and the API (full_clean)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mqtt_app.validators import topic_filter_error

if TYPE_CHECKING:
    from .models import AlertRule

MAX_FOR_SECONDS = 30 * 86400


def rule_errors(rule: AlertRule) -> dict[str, str]:
    errors = _scope_errors(rule)
    if rule.filter and (problem := topic_filter_error(rule.filter)):
        errors["filter"] = problem
    if rule.for_seconds is not None and rule.for_seconds > MAX_FOR_SECONDS:
        errors["for_seconds"] = f"at most {MAX_FOR_SECONDS} (30 days)"
    checks = {"threshold": _threshold_errors, "parse_errors": _ratio_errors, "error_rate": _ratio_errors,
              "topic_silent": _silence_errors}  # fmt: skip
    if rule.kind in checks:
        errors |= checks[rule.kind](rule)
    return errors


def _scope_errors(rule: AlertRule) -> dict[str, str]:
    if rule.topic_id is not None and rule.topic is not None and rule.topic.connection_id != rule.connection_id:
        return {"topic": "is not a topic of the rule's connection"}
    if rule.connection_id is not None and rule.connection is not None and rule.connection.site_id != rule.site_id:
        return {"connection": "is not a connection of the rule's site"}
    if rule.kind in ("topic_silent", "threshold", "device_offline") or rule.topic_id is None:
        return {}
    if rule.kind in ("connection_down", "parse_errors", "error_rate"):
        return {"topic": f"a {rule.kind} rule is about connections: scope it to a site or a connection"}
    return {}


def _threshold_errors(rule: AlertRule) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not rule.metric:
        errors["metric"] = "a threshold rule needs the metric it watches"
    if rule.op not in ("gt", "lt"):
        errors["op"] = "a threshold rule needs op 'gt' or 'lt'"
    if rule.value is None:
        errors["value"] = "a threshold rule needs a value"
    elif rule.clear_value is not None and rule.op in ("gt", "lt"):
        wrong = rule.clear_value > rule.value if rule.op == "gt" else rule.clear_value < rule.value
        if wrong:
            side = "at or below" if rule.op == "gt" else "at or above"
            errors["clear_value"] = f"must be {side} value, or the alert would clear while still firing"
    return errors


def _ratio_errors(rule: AlertRule) -> dict[str, str]:
    if rule.value is None or not 0 <= rule.value < 1:
        return {"value": f"a {rule.kind} rule needs value: the failed ratio that fires, from 0 up to (not) 1"}
    if rule.for_seconds < 60:
        return {"for_seconds": f"the window of a {rule.kind} rule is at least 60 seconds"}
    return {}


def _silence_errors(rule: AlertRule) -> dict[str, str]:
    if rule.for_seconds == 0 and (rule.value is None or rule.value <= 1):
        return {"for_seconds": "a topic_silent rule needs for_seconds, or for_seconds 0 and value k > 1 "
                "(silent for k times its usual interval)"}  # fmt: skip
    return {}
