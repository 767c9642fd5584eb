"""Recording the audit trail: who changed what, when, with the old and new values of each field.

Secret fields (a broker password, a TLS client key) are recorded as "(set)" or "(empty)", never their value.
Called by the API, the admin and the management commands after a change succeeded; an entry is written in
the caller's transaction, so a change that rolls back leaves no entry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Model

from mqtt_app.models import AuditEntry

logger = logging.getLogger(__name__)

SECRET_FIELDS = frozenset({"password", "tls_client_key"})
MAX_VALUE_CHARS = 500  # a PEM certificate or a long topic list is cut: the entry says what changed, not all of it


def _plain(value: Any) -> Any:  # noqa: ANN401
    """A JSON-friendly, bounded copy of a field value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, list | dict) and len(repr(value)) > MAX_VALUE_CHARS:
        return repr(value)[:MAX_VALUE_CHARS] + "…"
    return value


def _shown(field: str, value: Any) -> Any:  # noqa: ANN401
    if field in SECRET_FIELDS:
        return "(set)" if value else "(empty)"
    return _plain(value)


def snapshot(obj: Model, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of `fields` (attribute names; `site` is read as `site_id`)."""
    values = {}
    for field in fields:
        attr = f"{field}_id" if field in ("site", "connection", "user") else field
        values[field] = getattr(obj, attr, None)
    return values


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"old", "new"}} for each field whose value changed (secrets masked)."""
    changes = {}
    for field in sorted(set(before) | set(after)):
        old, new = before.get(field), after.get(field)
        if old != new:
            changes[field] = {"old": _shown(field, old), "new": _shown(field, new)}
    return changes


def record(
    user: Any,  # noqa: ANN401
    action: str,
    *,
    site_id: int | None,
    connection_id: int | None = None,
    target: str = "",
    changes: dict[str, Any] | None = None,
    via: str = "api",
) -> AuditEntry:
    """Write one entry. `user` may be None (the command line): its name is then 'cli'."""
    username = getattr(user, "username", "") or ("cli" if via == "cli" else "")
    entry = AuditEntry.objects.create(
        user=user if getattr(user, "pk", None) else None,
        username=username,
        via=via,
        action=action,
        site_id=site_id,
        connection_id=connection_id,
        target=target[:300],
        changes=changes or {},
    )
    logger.info("audit: %s %s %s (%s)", username or "?", action, target, ", ".join(sorted(changes or {})))
    return entry
