"""Two sites with one of everything each, and a user for every persona of the access matrix.

Site "Alpha" is the one the personas hold roles on; "Bravo" belongs to `viewer_other` only. Names are unusual
strings, so a page or a list that shows one of another site's objects is caught by a plain substring search.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from mqtt_app.models import (
    Alert,
    AlertRule,
    ApiToken,
    AuditEntry,
    DeadLetter,
    MqttConnection,
    MqttConnectionLog,
    MqttParsingLog,
    MqttTopic,
    NotificationChannel,
    RawMessage,
    ReparseJob,
    Role,
    Site,
    SiteRole,
    SparkplugNode,
    TelemetryReading,
)

PERSONAS = ("anonymous", "staff_without_role", "viewer_other", "viewer", "operator", "manager", "superuser")
# The role each persona holds on Alpha (the site every request of the matrix is about).
ROLE_ON_ALPHA = {"viewer": Role.VIEWER, "operator": Role.OPERATOR, "manager": Role.MANAGER}
RANK = {None: 0, Role.VIEWER: 1, Role.OPERATOR: 2, Role.MANAGER: 3, "superuser": 4}


@dataclass
class SiteObjects:
    site: Site
    connection: MqttConnection
    topic: MqttTopic
    dead_letter: DeadLetter
    marker: str  # in every name of the site's objects
    rule: AlertRule | None = None
    alert: Alert | None = None
    job: ReparseJob | None = None

    def ids(self) -> dict[str, Any]:
        return {"site": self.site.pk, "conn": self.connection.pk, "topic": self.topic.pk,
                "dead_letter": self.dead_letter.pk, "rule": self.rule.pk if self.rule else 0,
                "alert": self.alert.pk if self.alert else 0,
                "job": self.job.pk if self.job else 0}  # fmt: skip


@dataclass
class World:
    alpha: SiteObjects
    bravo: SiteObjects
    users: dict[str, Any] = field(default_factory=dict)
    token_id: int = 0  # a token of the viewer: only its owner, Alpha's managers and superusers may revoke it

    def ids(self) -> dict[str, Any]:
        return {**self.alpha.ids(), "token": self.token_id, "name": "plain_number"}

    def visible_sites(self, persona: str) -> set[int] | None:
        """The site ids `persona` may see; None: all."""
        if persona == "superuser":
            return None
        if persona == "viewer_other":
            return {self.bravo.site.pk}
        if persona in ROLE_ON_ALPHA:
            return {self.alpha.site.pk}
        return set()


def _site(marker: str) -> SiteObjects:
    now = timezone.now()
    site = Site.objects.create(name=f"{marker}-site")
    conn = MqttConnection.objects.create(site=site, name=f"{marker}-conn", host="127.0.0.1", is_active=False,
                                         password="pw-never-shown")  # fmt: skip
    topic = MqttTopic.objects.create(connection=conn, topic=f"{marker}/temp", first_seen_at=now, last_seen_at=now)
    TelemetryReading.objects.create(connection=conn, topic=topic, metric=f"{marker}-metric", value=1.0,
                                    timestamp=now, received_at=now)  # fmt: skip
    MqttParsingLog.objects.create(connection=conn, topic=topic, topic_name=topic.topic, error_kind="json",
                                  message=f"{marker} bad", fingerprint=marker, first_seen_at=now,
                                  last_seen_at=now)  # fmt: skip
    MqttConnectionLog.objects.create(connection=conn, event="started", detail=f"{marker} started", created_at=now)
    SparkplugNode.objects.create(connection=conn, group=f"{marker}-group", edge_node=f"{marker}-edge", is_online=True)
    at = now - timedelta(minutes=1)
    dead = DeadLetter.objects.create(id=uuid.uuid4(), batch=uuid.uuid4(), connection_id=conn.pk, topic=topic.topic,
                                     payload=b"not json", qos=1, received_at=at, created_at=at,
                                     error_kind="x")  # fmt: skip
    AuditEntry.objects.create(username="someone", action="connection.stop", site_id=site.pk, connection_id=conn.pk,
                              target=f"{marker}-conn")  # fmt: skip
    rule = AlertRule.objects.create(site=site, connection=conn, name=f"{marker}-rule", kind="connection_down")
    NotificationChannel.objects.create(rule=rule, type="webhook", target=f"http://127.0.0.1:9/{marker}")
    alert = Alert.objects.create(rule=rule, site=site, connection=conn, subject_key=f"connection:{conn.pk}",
                                 subject=f"connection {marker}-conn is error", since=at, fired_at=at)  # fmt: skip
    RawMessage.objects.create(connection_id=conn.pk, topic=topic, received_at=at, payload=f"{marker} raw".encode())
    job = ReparseJob.objects.create(topic=topic, since=at, until=now, parser_name="plain_number", state="done")
    return SiteObjects(site, conn, topic, dead, marker, rule, alert, job)


def build_world() -> World:
    world = World(alpha=_site("Alphaq7"), bravo=_site("Bravoz3"))
    model = get_user_model()
    for persona in PERSONAS[1:]:
        # Everyone but viewer_other may enter the admin: what they see there is up to their roles.
        world.users[persona] = model.objects.create_user(
            persona, password=f"pw-{persona}", is_staff=persona != "viewer_other", is_superuser=persona == "superuser"
        )
    SiteRole.objects.create(user=world.users["viewer_other"], site=world.bravo.site, role=Role.VIEWER)
    for persona, role in ROLE_ON_ALPHA.items():
        SiteRole.objects.create(user=world.users[persona], site=world.alpha.site, role=role)
    ApiToken.issue(world.users["viewer"], "matrix")
    world.token_id = ApiToken.objects.get(user=world.users["viewer"], name="matrix").pk
    return world
