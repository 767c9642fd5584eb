"""The admin's side of mqtt_app.access: querysets narrowed to the user's sites, permissions from site roles.

Django's model permissions are not used for these models: a staff user sees, in the admin, the sites they hold
a role on and what those roles allow (superusers: everything). Staff without a role see none of these models.
List filters offer only the user's sites and connections, so their names do not leak either.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from mqtt_app import access
from mqtt_app.models import MqttConnection


class SiteScopedAdmin(admin.ModelAdmin):
    """`change_role` / `add_role` / `delete_role`: the role needed on an object's site for that; None: only
    superusers (read-only for everyone else)."""

    change_role: str | None = None
    add_role: str | None = None
    delete_role: str | None = None

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return access.filter_for(request.user, super().get_queryset(request))

    def _allowed(self, request: HttpRequest, role: str | None, obj: Any = None) -> bool:  # noqa: ANN401
        if access.is_everything(request.user):
            return True
        if role is None:
            return False
        if obj is None:
            return access.sites_for(request.user, role).exists()
        return access.can(request.user, obj, role)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return access.may_see_anything(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._allowed(request, access.VIEWER, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._allowed(request, self.change_role, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:  # noqa: ANN401
        return self._allowed(request, self.add_role)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # noqa: ANN401
        return self._allowed(request, self.delete_role, obj)


def site_filter(lookup: str) -> type[admin.SimpleListFilter]:
    """A list filter by site (`lookup`, e.g. "connection__site") offering only the user's sites."""

    class SiteFilter(admin.SimpleListFilter):
        title = "site"
        parameter_name = f"{lookup}__id__exact"

        def lookups(self, request, model_admin):  # noqa: ANN001, ANN201
            return [(str(pk), name) for pk, name in access.sites_for(request.user).values_list("pk", "name")]

        def queryset(self, request, queryset):  # noqa: ANN001, ANN201
            return queryset.filter(**{f"{lookup}_id": self.value()}) if self.value() else queryset

    return SiteFilter


class ConnectionFilter(admin.SimpleListFilter):
    """By connection, offering only the user's connections."""

    title = "connection"
    parameter_name = "connection__id__exact"

    def lookups(self, request, model_admin):  # noqa: ANN001, ANN201
        rows = access.filter_for(request.user, MqttConnection.objects.order_by("site__name", "name"))
        return [(str(pk), f"{site} / {name}") for pk, site, name in rows.values_list("pk", "site__name", "name")]

    def queryset(self, request, queryset):  # noqa: ANN001, ANN201
        return queryset.filter(connection_id=self.value()) if self.value() else queryset
