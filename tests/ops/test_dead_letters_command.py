"""`manage.py mqtt_dead_letters`: lists dead letters and replays them (by id, or all not stored yet)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from mqtt_app.models import AuditEntry, MqttTopic
from tests.ops.dead_letters import make_dead_letter
from tests.ops.factories import make_connection

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("mqtt_dead_letters", *args, stdout=out)
    return out.getvalue()


def test_the_list_shows_each_dead_letter_and_filters_by_connection():
    conn, other = make_connection("boiler"), make_connection("pump")
    mine = make_dead_letter(conn, topic="plant/boiler/t")
    make_dead_letter(other, topic="plant/pump/p")

    everything, only_mine = run(), run("--list", "--connection", str(conn.pk))

    assert "plant/boiler/t" in everything and "plant/pump/p" in everything
    assert str(mine.pk) in only_mine and "plant/pump/p" not in only_mine
    assert "1 dead letter(s)." in only_mine


def test_replay_by_id_and_replay_all_store_each_message_once():
    conn, other = make_connection("boiler"), make_connection("pump")
    first = make_dead_letter(conn, topic="plant/a", payload=b"1")
    make_dead_letter(conn, topic="plant/b", payload=b"2")
    elsewhere = make_dead_letter(other, topic="plant/c", payload=b"3")

    assert f"{first.pk}  stored" in run("--replay", str(first.pk))
    out = run("--replay-all", "--connection", str(conn.pk))

    assert "1 of 1 stored" in out  # plant/a was stored already: not pending any more
    assert MqttTopic.objects.filter(connection=conn).count() == 2
    assert not MqttTopic.objects.filter(connection=other).exists()
    elsewhere.refresh_from_db()
    assert elsewhere.replay_count == 0
    audited = AuditEntry.objects.filter(action="dead_letter.replay", via="cli", username="cli")
    assert audited.count() == 2 and {e.connection_id for e in audited} == {conn.pk}


def test_an_unknown_or_malformed_id_is_an_error():
    with pytest.raises(CommandError, match="not stored"):
        run("--replay", "00000000-0000-0000-0000-000000000001")
    with pytest.raises(CommandError, match="UUID"):
        run("--replay", "nope")
