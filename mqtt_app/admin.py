"""The Django admin, useful on day one: lists, filters, search, and start/stop actions that only set `is_active`.

Each model's rows and permissions follow the user's site roles (admin_access.py); changes are audited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import F, Func, IntegerField, QuerySet
from django.http import HttpRequest

from . import access, models
from .admin_access import ConnectionFilter, SiteScopedAdmin, site_filter
from .models.connections import BROKER_FIELDS
from .services import audit
from .services.roles import record_grant

CONNECTION_AUDIT_FIELDS = ("site", "name", "is_active", "keep_raw_days", "sparkplug_rebirth", *BROKER_FIELDS)
TOPIC_AUDIT_FIELDS = ("parser_name", "is_processable", "parser_locked", "keep_raw_days")


def _audit_change(obj: Any, fields: tuple[str, ...], change: bool) -> dict:  # noqa: ANN401
    """The stored values of `fields` before a save (an add: none): pass them to _audit_saved after it."""
    if not change:
        return {}
    return audit.snapshot(type(obj).objects.get(pk=obj.pk), fields)


def _audit_saved(request: HttpRequest, obj: Any, fields: tuple[str, ...], action: str, before: dict) -> None:  # noqa: ANN401
    changes = audit.diff(before, audit.snapshot(obj, fields))
    if not changes:
        return
    site_id = access.site_id_of(obj)
    connection_id = obj.pk if isinstance(obj, models.MqttConnection) else getattr(obj, "connection_id", None)
    audit.record(request.user, action, site_id=site_id, connection_id=connection_id, target=str(obj),
                 changes=changes, via="admin")  # fmt: skip


class SiteRoleInline(admin.TabularInline):
    """Roles on a site: managed by its managers (and superusers)."""

    model = models.SiteRole
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)

    def _manages(self, request: HttpRequest, obj: Any) -> bool:  # noqa: ANN401
        return obj is not None and access.can(request.user, obj, access.MANAGER)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._manages(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._manages(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._manages(request, obj)


@admin.register(models.Site)
class SiteAdmin(SiteScopedAdmin):
    list_display = ("name", "slug", "connection_count", "created_at")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [SiteRoleInline]
    change_role = access.MANAGER  # name, description and the roles; adding and deleting sites: superusers

    @admin.display(description="connections")
    def connection_count(self, obj: models.Site) -> int:
        return obj.connections.count()

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:  # noqa: ANN401
        before = {r.pk: r.role for r in models.SiteRole.objects.filter(site=form.instance)}
        super().save_formset(request, form, formset, change)
        if formset.model is not models.SiteRole:
            return
        for role in formset.new_objects:
            record_grant(request.user, role.user, form.instance, None, role.role, "admin")
        for role, _ in formset.changed_objects:
            record_grant(request.user, role.user, form.instance, before.get(role.pk), role.role, "admin")
        for role in formset.deleted_objects:
            record_grant(request.user, role.user, form.instance, role.role, None, "admin")


class ConnectionForm(forms.ModelForm):
    # Secrets are write-only: the form never shows the stored value; left empty it is kept, "remove" clears it.
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Set a new one, or leave empty to keep the stored password.",
    )
    remove_password = forms.BooleanField(required=False, label="Remove the stored password")
    tls_client_key = forms.CharField(
        required=False,
        strip=False,
        label="TLS client key",
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "placeholder": "-----BEGIN PRIVATE KEY-----"}),
        help_text="PEM. Set a new one, or leave empty to keep the stored key (never shown).",
    )
    remove_tls_client_key = forms.BooleanField(required=False, label="Remove the stored client key")

    BROKER_LAYOUT = ("host", "port", "protocol", "keepalive", "client_id", "username", "password", "remove_password")
    TLS_LAYOUT = ("tls_enabled", "tls_ca_certs", "tls_client_cert", "tls_client_key", "remove_tls_client_key",
                  "tls_insecure")  # fmt: skip

    class Meta:
        model = models.MqttConnection
        fields = ("site", "name", "is_active", "keep_raw_days", "sparkplug_rebirth", *BROKER_FIELDS)

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        # The stored values never reach the page, not even as the fields' initial values.
        self.initial["password"] = ""
        self.initial["tls_client_key"] = ""
        for name, what in (("password", "password"), ("tls_client_key", "client key")):
            if self.instance.pk and getattr(self.instance, name):
                self.fields[name].help_text += f" A {what} is stored."

    def _secret(self, name: str) -> str:
        value = self.cleaned_data.get(name) or ""
        # The instance still holds the stored value here: the form's values are copied onto it after clean().
        return value or (getattr(self.instance, name) if self.instance.pk else "")

    def clean_password(self) -> str:
        return self._secret("password")

    def clean_tls_client_key(self) -> str:
        return self._secret("tls_client_key")

    def clean(self) -> dict:
        super().clean()
        cleaned = self.cleaned_data
        # remove_* is cleaned after the secret fields: apply it again with every field known.
        for name in ("password", "tls_client_key"):
            if cleaned.get(f"remove_{name}"):
                cleaned[name] = ""
        return cleaned


def _set_active(request: HttpRequest, queryset: QuerySet, value: bool) -> None:
    from mqtt_app.services.control import set_active

    allowed = access.filter_for(request.user, queryset, access.OPERATOR)
    skipped = queryset.count() - allowed.count()
    if skipped:
        messages.warning(request, f"{skipped} connection(s) left alone: starting and stopping needs the operator role.")
    changed = set_active(list(allowed.values_list("pk", flat=True)), value, user=request.user, via="admin")
    verb = "start" if value else "stop"
    messages.info(request, f"Asked {changed} connection(s) to {verb}; the listeners act within about a second.")


@admin.register(models.MqttConnection)
class MqttConnectionAdmin(SiteScopedAdmin):
    form = ConnectionForm
    change_role = add_role = delete_role = access.MANAGER
    list_display = (
        "name",
        "site",
        "host",
        "port",
        "is_active",
        "status",
        "listener",
        "last_message_at",
        "messages_received",
    )
    list_filter = ("is_active", "status", "protocol", "tls_enabled", site_filter("site"))
    search_fields = ("name", "host", "client_id", "site__name")
    list_select_related = ("site",)
    readonly_fields = (
        "status",
        "status_detail",
        "status_changed_at",
        "listener",
        "last_heartbeat_at",
        "last_connected_at",
        "last_message_at",
        "messages_received",
        "connect_count",
        "created_at",
        "updated_at",
    )
    actions = ["start_selected", "stop_selected"]
    fieldsets = (
        (None, {"fields": ("site", "name", "is_active")}),
        ("Broker", {"fields": ConnectionForm.BROKER_LAYOUT}),
        ("TLS", {"fields": ConnectionForm.TLS_LAYOUT}),
        ("Subscriptions", {"fields": ("topics", "keep_raw_days", "sparkplug_rebirth")}),
        ("State", {"fields": readonly_fields}),
    )

    def save_model(self, request: HttpRequest, obj: models.MqttConnection, form: forms.ModelForm, change: bool) -> None:
        # Like the API and the list actions: the listeners act within about a second, not at the next tick.
        from mqtt_app.services.control import request_reconcile

        before = _audit_change(obj, CONNECTION_AUDIT_FIELDS, change)
        super().save_model(request, obj, form, change)
        _audit_saved(request, obj, CONNECTION_AUDIT_FIELDS, "connection.change" if change else "connection.create",
                     before)  # fmt: skip
        if not change or form.changed_data:
            request_reconcile()

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:  # noqa: ANN401
        # A connection goes on a site its editor manages; the others are not even listed.
        if db_field.name == "site":
            kwargs["queryset"] = access.sites_for(request.user, access.MANAGER)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def delete_model(self, request: HttpRequest, obj: models.MqttConnection) -> None:
        from mqtt_app.services.control import request_reconcile

        target, pk = str(obj), obj.pk
        super().delete_model(request, obj)
        audit.record(request.user, "connection.delete", site_id=obj.site_id, connection_id=pk, target=target,
                     via="admin")  # fmt: skip
        request_reconcile()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        from mqtt_app.services.control import request_reconcile

        doomed = [(c.pk, c.site_id, str(c)) for c in queryset.select_related("site")]
        super().delete_queryset(request, queryset)
        for pk, site_id, target in doomed:
            audit.record(request.user, "connection.delete", site_id=site_id, connection_id=pk, target=target,
                         via="admin")  # fmt: skip
        request_reconcile()

    @admin.action(description="Start selected connections")
    def start_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _set_active(request, queryset, True)

    @admin.action(description="Stop selected connections")
    def stop_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _set_active(request, queryset, False)


@admin.register(models.MqttTopic)
class MqttTopicAdmin(SiteScopedAdmin):
    change_role = access.OPERATOR  # parser and is_processable
    delete_role = access.MANAGER
    list_display = (
        "topic",
        "connection",
        "is_processable",
        "parser_name",
        "message_count",
        "error_count",
        "last_seen_at",
        "retained",
    )
    list_filter = ("is_processable", "parser_name", "retained", site_filter("connection__site"))
    search_fields = ("topic",)
    list_select_related = ("connection", "connection__site")
    list_editable = ("is_processable",)
    readonly_fields = (
        "first_seen_at",
        "last_seen_at",
        "message_count",
        "error_count",
        "last_payload_preview",
        "last_payload_size",
        "last_qos",
        "retained",
    )
    exclude = ("last_payload",)

    def get_readonly_fields(self, request, obj=None):  # noqa: ANN001, ANN201
        # A discovered topic is its name on its connection: renaming one would send another topic's messages
        # to it (workers know topic rows by name). Staff set its parser and is_processable.
        if obj is not None:
            return ("connection", "topic", *self.readonly_fields)
        return self.readonly_fields

    @admin.display(description="last payload")
    def last_payload_preview(self, obj: models.MqttTopic) -> str:
        return obj.last_payload_text

    def save_model(self, request: HttpRequest, obj: models.MqttTopic, form: forms.ModelForm, change: bool) -> None:
        before = _audit_change(obj, TOPIC_AUDIT_FIELDS, change)
        super().save_model(request, obj, form, change)
        _audit_saved(request, obj, TOPIC_AUDIT_FIELDS, "topic.change", before)


@admin.register(models.TelemetryReading)
class TelemetryReadingAdmin(SiteScopedAdmin):
    list_display = ("timestamp", "connection", "topic", "device", "metric", "display_value", "unit")
    list_filter = ("value_type", site_filter("connection__site"))
    search_fields = ("device", "metric", "topic__topic")
    list_select_related = ("connection", "topic")
    date_hierarchy = "timestamp"
    show_full_result_count = False  # COUNT(*) over millions of readings is slow
    raw_id_fields = ("connection", "topic")


@admin.register(models.MqttParsingLog)
class MqttParsingLogAdmin(SiteScopedAdmin):
    list_display = ("last_seen_at", "connection", "topic_name", "parser_name", "error_kind", "location", "count")
    list_filter = ("error_kind", "parser_name", site_filter("connection__site"))
    search_fields = ("topic_name", "message", "location")
    list_select_related = ("connection",)
    raw_id_fields = ("connection", "topic")
    show_full_result_count = False


@admin.register(models.MqttConnectionLog)
class MqttConnectionLogAdmin(SiteScopedAdmin):
    list_display = ("created_at", "connection", "event", "status", "listener", "detail")
    list_filter = ("event", "status", site_filter("connection__site"))
    search_fields = ("detail", "connection__name", "listener")
    list_select_related = ("connection",)
    raw_id_fields = ("connection",)
    show_full_result_count = False


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by their owners (the tokens page, the API, `mqtt_token`): here they are listed and revoked,
    by whoever may revoke them (access.token_owners: the owner, the managers of the owner's sites, superusers)."""

    list_display = ("user", "name", "prefix", "created_at", "expires_at", "last_used_at")
    readonly_fields = ("user", "name", "key_hash", "prefix", "created_at", "expires_at", "last_used_at")
    search_fields = ("user__username", "name")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(user__in=access.token_owners(request.user))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return access.may_see_anything(request.user)

    def has_view_permission(self, request: HttpRequest, obj: models.ApiToken | None = None) -> bool:
        return access.may_see_anything(request.user) and (obj is None or self._revocable(request, obj))

    def has_delete_permission(self, request: HttpRequest, obj: models.ApiToken | None = None) -> bool:
        return self.has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token's value is shown once, to its owner: see the tokens page

    def has_change_permission(self, request: HttpRequest, obj: models.ApiToken | None = None) -> bool:
        return False

    @staticmethod
    def _revocable(request: HttpRequest, obj: models.ApiToken) -> bool:
        return access.token_owners(request.user).filter(pk=obj.user_id).exists()

    def delete_model(self, request: HttpRequest, obj: models.ApiToken) -> None:
        self._record_revocations(request, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._record_revocations(request, list(queryset.select_related("user")))
        super().delete_queryset(request, queryset)

    @staticmethod
    def _record_revocations(request: HttpRequest, tokens: list[models.ApiToken]) -> None:
        for token in tokens:
            site_id = None if token.user_id == request.user.pk else access.managing_site(request.user, token.user_id)
            target = f"token {token.name!r} ({token.prefix}…) of {token.user.username}"
            audit.record(request.user, "token.revoke", site_id=site_id, target=target, via="admin")


class DeadLetterReplayedFilter(admin.SimpleListFilter):
    title = "replayed"
    parameter_name = "replayed"

    def lookups(self, request, model_admin):  # noqa: ANN001, ANN201
        return (("yes", "Stored by a replay"), ("no", "Not stored yet"))

    def queryset(self, request, queryset):  # noqa: ANN001, ANN201
        from mqtt_app.services.dead_letters import replayed_filter

        if self.value() in ("yes", "no"):
            return queryset.filter(replayed_filter(self.value() == "yes"))
        return queryset


@admin.register(models.DeadLetter)
class DeadLetterAdmin(SiteScopedAdmin):
    """Read-only: a dead letter is evidence. Operators replay it (stored at most once); managers delete it."""

    change_role = access.OPERATOR  # the replay action; no field is editable
    delete_role = access.MANAGER
    list_display = ("created_at", "connection_id", "topic", "error_kind", "payload_size", "replay_count",
                    "replay_result")  # fmt: skip
    list_filter = ("error_kind", DeadLetterReplayedFilter, ConnectionFilter)
    search_fields = ("topic", "error")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["replay_selected"]
    # The payload itself stays out of the form: it is binary and can be large (the API serves it whole).
    fields = readonly_fields = (
        "id", "batch", "connection_id", "topic", "payload_excerpt", "payload_size", "qos", "retain", "received_at",
        "error_kind", "error", "created_at", "replay_count", "replayed_at", "replay_result",
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # A list page reads sizes, not payloads (a connection's deleted: no join, its rows stay listed).
        size = Func(F("payload"), function="LENGTH", output_field=IntegerField())
        return super().get_queryset(request).defer("payload").annotate(payload_bytes=size)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:  # noqa: ANN401
        return False  # rows come from ingestion only

    @admin.display(description="payload")
    def payload_excerpt(self, obj: models.DeadLetter) -> str:
        from mqtt_app.api.dead_letters import EXCERPT_BYTES
        from mqtt_app.ingest.errors import excerpt

        return excerpt(bytes(obj.payload[: EXCERPT_BYTES + 1]), EXCERPT_BYTES)

    @admin.display(description="size (bytes)")
    def payload_size(self, obj: models.DeadLetter) -> int:
        return obj.payload_bytes  # type: ignore[attr-defined] # annotated by get_queryset

    @admin.action(description="Replay selected dead letters", permissions=["change"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        from mqtt_app.services.dead_letters import replay

        allowed = access.filter_for(request.user, queryset, access.OPERATOR)
        results = replay(list(allowed.values_list("pk", flat=True)), request.user, "admin")
        counts: dict[str, int] = {}
        for result in results:
            counts[result.status] = counts.get(result.status, 0) + 1
        summary = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))
        level = messages.WARNING if counts.get("failed") or counts.get("error") else messages.SUCCESS
        self.message_user(request, f"Replayed {len(results)} dead letter(s): {summary}.", level)


@admin.register(models.AuditEntry)
class AuditEntryAdmin(SiteScopedAdmin):
    """Read-only for everyone: the trail is written by the changes themselves and thinned by retention."""

    list_display = ("at", "username", "via", "action", "target", "site_id", "connection_id")
    list_filter = ("action", "via")
    search_fields = ("username", "target", "action")
    date_hierarchy = "at"
    show_full_result_count = False
    fields = readonly_fields = ("at", "username", "user", "via", "action", "site_id", "connection_id", "target",
                                "changes")  # fmt: skip

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:  # noqa: ANN401
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return False


from mqtt_app.alerts import admin as alerts_admin  # noqa: E402, F401 - registers the alerting models (mqtt_app/alerts/admin.py)
