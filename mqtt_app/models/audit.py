"""The audit trail: every change a person made (start, stop, edits, parser choices, grants, tokens, replays).

Rows keep the user name and the site and connection ids without database constraints, so the history of a
deleted user, connection or site stays readable (to superusers). Secret values are never stored: a changed
password or TLS key is recorded as "(set)" or "(empty)" (mqtt_app/services/audit.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    username = models.CharField(max_length=150, blank=True, help_text="Kept when the user is deleted.")
    via = models.CharField(max_length=16, default="api", help_text="api, admin or cli.")
    action = models.CharField(max_length=40, help_text="e.g. connection.start, connection.change, role.grant.")
    site_id = models.IntegerField(null=True, blank=True, db_index=True)
    connection_id = models.IntegerField(null=True, blank=True)
    target = models.CharField(max_length=300, blank=True, help_text="What was changed, in words.")
    changes = models.JSONField(default=dict, blank=True, help_text='{field: {"old": ..., "new": ...}}')

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["connection_id", "-at"], name="mqtt_audit_conn_at")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '?'} {self.action} {self.target}"
