"""Who may see and change what: the one place the API, the WebSocket, the pages, the exports and the admin ask.

A user holds at most one role per site (`SiteRole`): viewer (read), operator (also start/stop, topic parser
settings, dead-letter replays), manager (also the site's connections, their credentials, and the roles on
the site). Superusers hold every role on every site. `is_staff` alone grants nothing: it only opens the admin.

- `sites_for(user, role)`: the sites the user holds `role` (or more) on.
- `filter_for(user, queryset, role)`: a queryset of any site-owned model narrowed to those sites.
- `require(user, obj, role)`: an object the user cannot even view is `Http404` (ids tell nothing); one they
  can view but not change is `PermissionDenied` (403).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from mqtt_app.models import (
    Alert,
    AlertRule,
    AuditEntry,
    DeadLetter,
    IngestBatch,
    MqttConnection,
    MqttConnectionLog,
    MqttParsingLog,
    MqttTopic,
    Role,
    Site,
    SiteRole,
    TelemetryReading,
)

VIEWER, OPERATOR, MANAGER = Role.VIEWER, Role.OPERATOR, Role.MANAGER

# How each model reaches its site's id. Readings, topics, logs and dead letters go through their connection
# id (a subquery of the connection table), never a join onto the large tables.
SITE_FIELD: dict[type[Model], str] = {
    Site: "pk",
    SiteRole: "site_id",
    AuditEntry: "site_id",
    MqttConnection: "site_id",
    AlertRule: "site_id",
    Alert: "site_id",
}
CONNECTION_FIELD: dict[type[Model], str] = {
    MqttTopic: "connection_id",
    TelemetryReading: "connection_id",
    MqttParsingLog: "connection_id",
    MqttConnectionLog: "connection_id",
    DeadLetter: "connection_id",
    IngestBatch: "connection_id",
}


def is_everything(user: Any) -> bool:  # noqa: ANN401
    """Superusers (active, logged in) see and change every site."""
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_superuser)


def _signed_in(user: Any) -> bool:  # noqa: ANN401
    return bool(user is not None and user.is_authenticated and user.is_active)


def sites_for(user: Any, role: str = VIEWER) -> QuerySet:  # noqa: ANN401
    """The sites `user` holds `role` (or a higher one) on; every site for a superuser, none for anonymous."""
    if is_everything(user):
        return Site.objects.all()
    if not _signed_in(user):
        return Site.objects.none()
    return Site.objects.filter(pk__in=_role_site_ids(user, role))


def _role_site_ids(user: Any, role: str) -> QuerySet:  # noqa: ANN401
    return SiteRole.objects.filter(user_id=user.pk, role__in=SiteRole.roles_at_least(role)).values("site_id")


def site_ids(user: Any, role: str = VIEWER) -> set[int] | None:  # noqa: ANN401
    """The ids of sites_for(); None means every site (a superuser)."""
    if is_everything(user):
        return None
    return set(sites_for(user, role).values_list("pk", flat=True))


def connection_ids(user: Any, role: str = VIEWER) -> set[int] | None:  # noqa: ANN401
    """The ids of the connections on the user's sites; None means every connection (a superuser)."""
    if is_everything(user):
        return None
    return set(filter_for(user, MqttConnection.objects.all(), role).values_list("pk", flat=True))


def filter_for(user: Any, queryset: QuerySet, role: str = VIEWER) -> QuerySet:  # noqa: ANN401
    """`queryset` (of any model above, `values()` querysets included) narrowed to the user's sites."""
    if is_everything(user):
        return queryset
    if not _signed_in(user):
        return queryset.none()
    model = queryset.model
    if model in SITE_FIELD:
        return queryset.filter(**{f"{SITE_FIELD[model]}__in": _role_site_ids(user, role)})
    if model in CONNECTION_FIELD:
        connections = MqttConnection.objects.filter(site_id__in=_role_site_ids(user, role)).values("pk")
        return queryset.filter(**{f"{CONNECTION_FIELD[model]}__in": connections})
    raise TypeError(f"{model.__name__} has no site: access.filter_for cannot narrow it")


def site_id_of(obj: Any) -> int | None:  # noqa: ANN401
    """The site an object belongs to (a Site, or anything with a site or connection)."""
    if isinstance(obj, Site):
        return obj.pk
    if isinstance(obj, dict):
        if "site_id" in obj:
            return obj["site_id"]
        return MqttConnection.objects.filter(pk=obj["connection_id"]).values_list("site_id", flat=True).first()
    if hasattr(obj, "site_id"):
        return obj.site_id
    if hasattr(obj, "connection_id"):
        return MqttConnection.objects.filter(pk=obj.connection_id).values_list("site_id", flat=True).first()
    raise TypeError(f"{type(obj).__name__} has no site")


def role_on(user: Any, site_id: int | None) -> str | None:  # noqa: ANN401
    """The user's role on a site (MANAGER for superusers), or None."""
    if is_everything(user):
        return MANAGER
    if site_id is None or not _signed_in(user):
        return None
    return SiteRole.objects.filter(user_id=user.pk, site_id=site_id).values_list("role", flat=True).first()


def has_role(user: Any, site_id: int | None, role: str) -> bool:  # noqa: ANN401
    held = role_on(user, site_id)
    return held is not None and held in SiteRole.roles_at_least(role)


def can(user: Any, obj: Any, role: str) -> bool:  # noqa: ANN401
    return has_role(user, None if is_everything(user) else site_id_of(obj), role)


def require(user: Any, obj: Any, role: str = VIEWER, what: str = "object") -> Any:  # noqa: ANN401
    """`obj` if the user holds `role` on its site. Not even a viewer: Http404, as if it did not exist.
    A viewer lacking `role`: PermissionDenied naming the role needed."""
    if obj is None:
        raise Http404(f"No such {what}.")
    if is_everything(user):
        return obj
    held = role_on(user, site_id_of(obj))
    if held is None:
        raise Http404(f"No such {what}.")
    if held not in SiteRole.roles_at_least(role):
        raise PermissionDenied(f"This needs the {role} role on the {what}'s site (you are {held}).")
    return obj


def require_site(user: Any, site_id: int | None, role: str = VIEWER) -> None:  # noqa: ANN401
    """Like require() for a site id (a request's `site=` filter, a connection's target site)."""
    site = Site.objects.filter(pk=site_id).only("pk").first() if site_id is not None else None
    require(user, site, role, "site")


def require_superuser(user: Any) -> None:  # noqa: ANN401
    if not is_everything(user):
        raise PermissionDenied("This needs a superuser.")


def may_see_anything(user: Any) -> bool:  # noqa: ANN401
    """Holds any role at all (or is a superuser): what the admin's index asks."""
    return is_everything(user) or (_signed_in(user) and SiteRole.objects.filter(user_id=user.pk).exists())


def token_owners(user: Any) -> QuerySet:  # noqa: ANN401
    """The users whose API tokens `user` may list and revoke: themselves; for a manager, also everyone else who
    holds a role on a site they manage, superusers excepted (revoking is never a way to act on a site one does
    not manage, and a superuser's tokens are the superuser's own business); for a superuser, everyone."""
    users = get_user_model().objects.all()
    if is_everything(user):
        return users
    if not _signed_in(user):
        return users.none()
    managed = SiteRole.objects.filter(site_id__in=_role_site_ids(user, MANAGER)).values("user_id")
    return users.filter(Q(pk=user.pk) | Q(pk__in=managed, is_superuser=False))


def managing_site(manager: Any, owner_id: int) -> int | None:  # noqa: ANN401
    """A site `manager` manages on which `owner_id` holds a role (the site a revocation is recorded on), or None."""
    managed: QuerySet = _role_site_ids(manager, MANAGER) if not is_everything(manager) else Site.objects.values("pk")
    return (
        SiteRole.objects.filter(user_id=owner_id, site_id__in=managed)
        .order_by("site_id")
        .values_list("site_id", flat=True)
        .first()
    )
