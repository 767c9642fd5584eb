"""Deleting a site, connection or topic first locks the connection rows involved.

Readings have no database foreign keys (see readings.py), so nothing in the database stops an ingestion
transaction from committing readings for a connection or topic another transaction is deleting. Ingestion
locks its connections' rows (FOR UPDATE, ascending id) for its whole transaction; a delete that takes the
same locks first waits for any batch in flight, and only then collects what to cascade, so it sees (and
deletes) that batch's rows. A batch that starts after the lock waits, then finds its connection gone and
drops its part. SQLite serialises writers on its own; `select_for_update` is a no-op there.

A model opts in with `LockingDeleteModel` and `objects = LockingDeleteQuerySet.as_manager()`, and names the
lookup from its rows to their connections' ids in `connection_lookup`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from django.db import models, transaction


def lock_connections(ids: Iterable[int | None], using: str | None = None) -> None:
    from .connections import MqttConnection

    ordered = sorted({pk for pk in ids if pk is not None})  # a site without connections yields None
    if ordered:
        rows = MqttConnection.objects.using(using).filter(pk__in=ordered).order_by("pk").select_for_update()
        list(rows.values_list("pk", flat=True))


class LockingDeleteQuerySet(models.QuerySet):
    """`delete()` inside a transaction that first locks the connections of the rows being deleted."""

    def delete(self) -> tuple[int, dict[str, int]]:
        with transaction.atomic(using=self.db):
            lookup = self.model.connection_lookup  # type: ignore[attr-defined] # each locking model declares it
            lock_connections(self.order_by().values_list(lookup, flat=True).distinct(), self.db)
            return super().delete()

    delete.alters_data = True  # type: ignore[attr-defined] # Django's flags, set on the method as Django does
    delete.queryset_only = True  # type: ignore[attr-defined]


class LockingDeleteModel(models.Model):
    """The same for `instance.delete()` (the admin's delete view, the API)."""

    connection_lookup: ClassVar[str]  # e.g. "pk" on a connection, "connection_id" on a topic

    class Meta:
        abstract = True

    def delete(self, using: str | None = None, keep_parents: bool = False) -> Any:  # noqa: ANN401
        using = using or self._state.db
        with transaction.atomic(using=using):
            rows = type(self)._default_manager.using(using).filter(pk=self.pk)
            lock_connections(rows.values_list(self.connection_lookup, flat=True), using)
            return super().delete(using=using, keep_parents=keep_parents)
