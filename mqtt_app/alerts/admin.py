"""Alert rules (with their channels) and alerts in the admin, scoped to the user's sites like the rest.

Rules: managers of the site edit them (their channels, which may hold tokens, are shown to managers only);
alerts are read-only there (acknowledge on the alerts page or through the API). Changes go to the audit trail.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from mqtt_app import access
from mqtt_app.admin_access import SiteScopedAdmin, site_filter
from mqtt_app.services import audit

from .models import Alert, AlertRule, NotificationChannel

RULE_AUDIT_FIELDS = ("site", "connection", "topic", "name", "kind", "filter", "metric", "op", "value",
                     "clear_value", "for_seconds", "is_enabled")  # fmt: skip


class ChannelInline(admin.TabularInline):
    """Managers of the rule's site only (Django's model permissions are not used for site-scoped models)."""

    model = NotificationChannel
    extra = 0
    fields = ("type", "target", "secret")
    readonly_fields = ("secret",)  # generated; set a chosen one through the API

    def _manages(self, request: HttpRequest, obj: Any) -> bool:  # noqa: ANN401
        if obj is None:
            return access.is_everything(request.user) or access.sites_for(request.user, access.MANAGER).exists()
        return access.can(request.user, obj, access.MANAGER)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._manages(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._manages(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._manages(request, obj)


@admin.register(AlertRule)
class AlertRuleAdmin(SiteScopedAdmin):
    change_role = add_role = delete_role = access.MANAGER
    inlines = [ChannelInline]
    list_display = ("name", "kind", "site", "connection", "for_seconds", "is_enabled")
    list_filter = ("kind", "is_enabled", site_filter("site"))
    search_fields = ("name", "filter", "metric")
    list_select_related = ("site", "connection")
    raw_id_fields = ("topic",)  # a site may have thousands of topics (and the others' must not be listed)

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list:  # noqa: ANN401
        # Channel targets and secrets are for managers of the rule's site.
        manager = obj is None or access.can(request.user, obj, access.MANAGER)
        return super().get_inline_instances(request, obj) if manager else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:  # noqa: ANN401
        from mqtt_app.models import MqttConnection

        if db_field.name == "site":
            kwargs["queryset"] = access.sites_for(request.user, access.MANAGER)
        elif db_field.name == "connection":
            kwargs["queryset"] = access.filter_for(request.user, MqttConnection.objects.all(), access.MANAGER)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: AlertRule, form: Any, change: bool) -> None:  # noqa: ANN401
        before = audit.snapshot(AlertRule.objects.get(pk=obj.pk), RULE_AUDIT_FIELDS) if change else {}
        super().save_model(request, obj, form, change)
        changes = audit.diff(before, audit.snapshot(obj, RULE_AUDIT_FIELDS))
        if changes:
            audit.record(request.user, "alert_rule.change" if change else "alert_rule.create", site_id=obj.site_id,
                         connection_id=obj.connection_id, target=obj.name, changes=changes, via="admin")  # fmt: skip

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:  # noqa: ANN401
        super().save_formset(request, form, formset, change)
        if formset.new_objects or formset.changed_objects or formset.deleted_objects:
            rule = form.instance
            types = list(rule.channels.values_list("type", flat=True))
            audit.record(request.user, "alert_rule.change", site_id=rule.site_id, connection_id=rule.connection_id,
                         target=rule.name, changes={"channels": {"old": "(changed)", "new": types}},
                         via="admin")  # fmt: skip

    def delete_model(self, request: HttpRequest, obj: AlertRule) -> None:
        super().delete_model(request, obj)
        audit.record(request.user, "alert_rule.delete", site_id=obj.site_id, connection_id=obj.connection_id,
                     target=obj.name, via="admin")  # fmt: skip

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        doomed = list(queryset.values_list("site_id", "connection_id", "name"))
        super().delete_queryset(request, queryset)
        for site_id, connection_id, name in doomed:
            audit.record(request.user, "alert_rule.delete", site_id=site_id, connection_id=connection_id,
                         target=name, via="admin")  # fmt: skip


@admin.register(Alert)
class AlertAdmin(SiteScopedAdmin):
    """Read-only: alerts open and resolve by evaluation; people acknowledge them on the alerts page or the API."""

    list_display = ("fired_at", "state", "rule", "subject", "acknowledged_by_name", "resolved_at")
    list_filter = ("state", site_filter("site"))
    search_fields = ("subject", "rule__name")
    list_select_related = ("rule",)
    show_full_result_count = False
    fields = readonly_fields = ("rule", "site", "connection", "topic", "subject_key", "subject", "state", "value",
                                "since", "fired_at", "acknowledged_at", "acknowledged_by_name", "resolved_at",
                                "last_notified_at")  # fmt: skip

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:  # noqa: ANN401
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return False
