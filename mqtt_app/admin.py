"""The Django admin, useful on day one: lists, filters, search, and start/stop actions that only set `is_active`."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import F, Func, IntegerField, QuerySet
from django.http import HttpRequest

from . import models
from .models.connections import BROKER_FIELDS


@admin.register(models.Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "connection_count", "created_at")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="connections")
    def connection_count(self, obj: models.Site) -> int:
        return obj.connections.count()


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
        fields = ("site", "name", "is_active", *BROKER_FIELDS)

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
        cleaned = super().clean()
        # remove_* is cleaned after the secret fields: apply it again with every field known.
        for name in ("password", "tls_client_key"):
            if cleaned.get(f"remove_{name}"):
                cleaned[name] = ""
        return cleaned


def _set_active(request: HttpRequest, queryset: QuerySet, value: bool) -> None:
    from mqtt_app.services.control import set_active

    changed = set_active(list(queryset.values_list("pk", flat=True)), value)
    verb = "start" if value else "stop"
    messages.info(request, f"Asked {changed} connection(s) to {verb}; the listeners act within about a second.")


@admin.register(models.MqttConnection)
class MqttConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
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
    list_filter = ("is_active", "status", "protocol", "tls_enabled", "site")
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
        ("Subscriptions", {"fields": ("topics",)}),
        ("State", {"fields": readonly_fields}),
    )

    def save_model(self, request: HttpRequest, obj: models.MqttConnection, form: forms.ModelForm, change: bool) -> None:
        # Like the API and the list actions: the listeners act within about a second, not at the next tick.
        from mqtt_app.services.control import request_reconcile

        super().save_model(request, obj, form, change)
        if not change or form.changed_data:
            request_reconcile()

    def delete_model(self, request: HttpRequest, obj: models.MqttConnection) -> None:
        from mqtt_app.services.control import request_reconcile

        super().delete_model(request, obj)
        request_reconcile()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        from mqtt_app.services.control import request_reconcile

        super().delete_queryset(request, queryset)
        request_reconcile()

    @admin.action(description="Start selected connections")
    def start_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _set_active(request, queryset, True)

    @admin.action(description="Stop selected connections")
    def stop_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _set_active(request, queryset, False)


@admin.register(models.MqttTopic)
class MqttTopicAdmin(admin.ModelAdmin):
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
    list_filter = ("is_processable", "parser_name", "retained", "connection__site")
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


@admin.register(models.TelemetryReading)
class TelemetryReadingAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "connection", "topic", "device", "metric", "display_value", "unit")
    list_filter = ("value_type", "connection__site")
    search_fields = ("device", "metric", "topic__topic")
    list_select_related = ("connection", "topic")
    date_hierarchy = "timestamp"
    show_full_result_count = False  # COUNT(*) over millions of readings is slow
    raw_id_fields = ("connection", "topic")


@admin.register(models.MqttParsingLog)
class MqttParsingLogAdmin(admin.ModelAdmin):
    list_display = ("last_seen_at", "connection", "topic_name", "parser_name", "error_kind", "location", "count")
    list_filter = ("error_kind", "parser_name", "connection__site")
    search_fields = ("topic_name", "message", "location")
    list_select_related = ("connection",)
    raw_id_fields = ("connection", "topic")
    show_full_result_count = False


@admin.register(models.MqttConnectionLog)
class MqttConnectionLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "connection", "event", "status", "listener", "detail")
    list_filter = ("event", "status", "connection__site")
    search_fields = ("detail", "connection__name", "listener")
    list_select_related = ("connection",)
    raw_id_fields = ("connection",)
    show_full_result_count = False


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "prefix", "created_at", "last_used_at")
    readonly_fields = ("key_hash", "prefix", "created_at", "last_used_at")
    search_fields = ("user__username",)


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
class DeadLetterAdmin(admin.ModelAdmin):
    """Read-only: a dead letter is evidence. Staff replay it (stored at most once) or delete it."""

    list_display = ("created_at", "connection_id", "topic", "error_kind", "payload_size", "replay_count",
                    "replay_result")  # fmt: skip
    list_filter = ("error_kind", DeadLetterReplayedFilter, "connection")
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from ingestion only

    @admin.display(description="payload")
    def payload_excerpt(self, obj: models.DeadLetter) -> str:
        from mqtt_app.api.dead_letters import EXCERPT_BYTES
        from mqtt_app.ingest.errors import excerpt

        return excerpt(bytes(obj.payload[: EXCERPT_BYTES + 1]), EXCERPT_BYTES)

    @admin.display(description="size (bytes)")
    def payload_size(self, obj: models.DeadLetter) -> int:
        return obj.payload_bytes

    @admin.action(description="Replay selected dead letters", permissions=["change"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        from mqtt_app.services.dead_letters import replay

        results = replay(list(queryset.values_list("pk", flat=True)), request.user)
        counts: dict[str, int] = {}
        for result in results:
            counts[result.status] = counts.get(result.status, 0) + 1
        summary = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))
        level = messages.WARNING if counts.get("failed") or counts.get("error") else messages.SUCCESS
        self.message_user(request, f"Replayed {len(results)} dead letter(s): {summary}.", level)
