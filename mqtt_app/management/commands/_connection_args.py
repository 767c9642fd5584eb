"""Shared by mqtt_start/mqtt_stop: find connections by id or name."""

from __future__ import annotations

from django.core.management.base import CommandError

from mqtt_app.models import MqttConnection


def find_connections(references: list[str]) -> list[MqttConnection]:
    """Each reference is a connection id or name ("site/name" when a name is used on several sites)."""
    found: list[MqttConnection] = []
    for reference in references:
        if reference.isdigit():
            matches = list(MqttConnection.objects.filter(pk=int(reference)))
        elif "/" in reference:
            site, name = reference.split("/", 1)
            matches = list(MqttConnection.objects.filter(site__name=site, name=name))
        else:
            matches = list(MqttConnection.objects.filter(name=reference))
        if not matches:
            raise CommandError(f"No connection with id or name {reference!r}.")
        if len(matches) > 1:
            sites = ", ".join(f"{m.site.name}/{m.name}" for m in matches)
            raise CommandError(f"{reference!r} names several connections ({sites}): use the id or site/name.")
        found.append(matches[0])
    return found


def set_active_command(command, references: list[str], active: bool) -> None:  # noqa: ANN001 - a BaseCommand
    from mqtt_app.services.control import set_active

    connections = find_connections(references)
    changed = set_active([c.pk for c in connections], active, via="cli")  # recorded in the audit trail as "cli"
    verb = "start" if active else "stop"
    for connection in connections:
        command.stdout.write(f"{connection.pk} {connection.site.name}/{connection.name}: {verb} requested")
    command.stdout.write(f"{changed} changed; a reconcile was requested")
