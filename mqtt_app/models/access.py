"""Who may do what on a site: one role per user and site (viewer < operator < manager).

Superusers need no role: they see and change everything. Plain `is_staff` grants nothing by itself (it only
lets a person into the admin, where they see the sites they hold a role on). The rules live in mqtt_app/access.py.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .connections import Site


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer (read)"
    OPERATOR = "operator", "Operator (start/stop, topic parsers, replays)"
    MANAGER = "manager", "Manager (connections, credentials, roles)"


# A role includes every role below it.
ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.MANAGER: 3}


class SiteRole(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="site_roles")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["site__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="mqtt_site_role_unique_per_user")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.site}"

    @staticmethod
    def roles_at_least(role: str) -> list[str]:
        return [r for r, rank in ROLE_RANK.items() if rank >= ROLE_RANK[Role(role)]]
