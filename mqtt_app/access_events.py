"""Open sockets follow role changes: a role given, changed or taken away, or an account deactivated or made (or
no longer) a superuser, tells that user's sockets (`access.changed`), which read what they may see again.

Model signals, so every path is covered (the admin, `mqtt_grant`, the Django shell); sent after the commit, so a
socket never reads the roles of a transaction that rolls back.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from mqtt_app.events import AccessChangedEvent, broadcast, user_group
from mqtt_app.models import SiteRole


def tell_sockets(user_id: int) -> None:
    transaction.on_commit(lambda: broadcast(user_group(user_id), AccessChangedEvent(user=user_id)))


def _role_changed(sender: Any, instance: SiteRole, **kwargs: Any) -> None:  # noqa: ANN401
    tell_sockets(instance.user_id)


def _user_saved(sender: Any, instance: Any, created: bool = False, update_fields: Any = None, **kwargs: Any) -> None:  # noqa: ANN401
    if created or (update_fields is not None and not {"is_active", "is_superuser"} & set(update_fields)):
        return  # a new account has no socket; a login's last_login update changes no access
    tell_sockets(instance.pk)


def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:  # noqa: ANN401
    tell_sockets(instance.pk)


def connect() -> None:
    post_save.connect(_role_changed, sender=SiteRole, dispatch_uid="mqtt.access.role_saved")
    post_delete.connect(_role_changed, sender=SiteRole, dispatch_uid="mqtt.access.role_deleted")
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="mqtt.access.user_saved")
    post_delete.connect(_user_deleted, sender=get_user_model(), dispatch_uid="mqtt.access.user_deleted")
