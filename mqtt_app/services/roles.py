"""Granting and revoking site roles (the command line and the admin), each recorded in the audit trail."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from mqtt_app.models import Site, SiteRole

from .audit import record


def record_grant(by: Any, user: Any, site: Site, old: str | None, new: str | None, via: str) -> None:  # noqa: ANN401
    """Record a role given, changed (`old` → `new`) or taken away (`new` None)."""
    action = "role.revoke" if new is None else "role.grant"
    record(by, action, site_id=site.pk, target=f"{user} on {site}", changes={"role": {"old": old, "new": new}},
           via=via)  # fmt: skip


def set_role(by: Any, user: Any, site: Site, role: str | None, via: str = "cli") -> bool:  # noqa: ANN401
    """Give `user` `role` on `site` (replacing the one they held), or take their role away (`role` None).
    Returns whether anything changed."""
    with transaction.atomic():
        held = SiteRole.objects.select_for_update().filter(user=user, site=site).first()
        old = held.role if held else None
        if old == role:
            return False
        if role is None:
            if held is not None:
                held.delete()
        elif held is None:
            SiteRole.objects.create(user=user, site=site, role=role)
        else:
            held.role = role
            held.save(update_fields=["role"])
        record_grant(by, user, site, old, role, via)
    return True
