"""The data model: defaults, constraints and validation messages."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from mqtt_app.models import ConnectionStatus, MqttConnection, MqttTopic, Site

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return Site.objects.create(name="Plant North")


def make_connection(site, **fields) -> MqttConnection:
    values = {"site": site, "name": "main", "host": "broker.example"} | fields
    return MqttConnection(**values)


def test_a_new_site_gets_a_slug_from_its_name(site):
    assert site.slug == "plant-north"


def test_a_new_connection_is_desired_active_but_actually_stopped(site):
    connection = make_connection(site)
    connection.full_clean()
    connection.save()
    connection.refresh_from_db()
    assert connection.is_active is True
    assert connection.status == ConnectionStatus.STOPPED
    assert connection.port == 1883
    assert connection.protocol == "3.1.1"
    assert connection.topics == [{"filter": "#", "qos": 1}]
    assert connection.client_id.startswith("mqttmon-") and len(connection.client_id) == 22  # stored, random
    assert connection.effective_client_id == connection.client_id
    assert connection.restart_count == 0


@pytest.mark.parametrize("port", [0, 65536, 70000])
def test_a_port_outside_1_to_65535_is_rejected_with_a_message(site, port):
    with pytest.raises(ValidationError) as error:
        make_connection(site, port=port).full_clean()
    assert "port" in error.value.message_dict


def test_the_database_itself_refuses_an_out_of_range_port(site):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_connection(site, port=0).save()


@pytest.mark.parametrize("host", ["", "   ", "mqtt://broker", "two words"])
def test_an_empty_or_malformed_host_is_rejected(site, host):
    with pytest.raises(ValidationError) as error:
        make_connection(site, host=host).full_clean()
    assert "host" in error.value.message_dict


@pytest.mark.parametrize(
    ("topic_filter", "reason"),
    [
        ("sensors/#/temp", "'#' must be a whole level and the last one"),
        ("sensors/temp#", "'#' must be a whole level and the last one"),
        ("sensors/te+mp", "'+' must be a whole level"),
        ("", "non-empty"),
    ],
)
def test_a_bad_topic_filter_is_rejected_with_the_rule_it_breaks(site, topic_filter, reason):
    with pytest.raises(ValidationError) as error:
        make_connection(site, topics=[{"filter": topic_filter, "qos": 1}]).full_clean()
    assert reason in " ".join(error.value.message_dict["topics"])


@pytest.mark.parametrize(
    "topics",
    [[], "sensors/#", [{"filter": "a/#", "qos": 3}], [{"filter": "a/#"}, {"filter": "a/#"}], [{"topic": "a"}]],
)
def test_topics_must_be_a_list_of_filters_with_qos(site, topics):
    with pytest.raises(ValidationError) as error:
        make_connection(site, topics=topics).full_clean()
    assert "topics" in error.value.message_dict


def test_good_topic_filters_are_accepted(site):
    connection = make_connection(
        site, topics=[{"filter": "sensors/+/temp", "qos": 0}, {"filter": "#", "qos": 2}, {"filter": "a/b"}]
    )
    connection.full_clean()


def test_connection_names_are_unique_within_a_site_only(site):
    make_connection(site).save()
    Site.objects.create(name="Other")
    make_connection(Site.objects.get(name="Other")).save()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_connection(site).save()


def test_a_topic_is_unique_per_connection(site):
    connection = make_connection(site)
    connection.save()
    now = timezone.now()
    MqttTopic.objects.create(connection=connection, topic="a/b", first_seen_at=now, last_seen_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        MqttTopic.objects.create(connection=connection, topic="a/b", first_seen_at=now, last_seen_at=now)


def test_a_new_topic_is_not_processable_until_a_parser_claims_it(site):
    connection = make_connection(site)
    connection.save()
    now = timezone.now()
    topic = MqttTopic.objects.create(connection=connection, topic="x", first_seen_at=now, last_seen_at=now)
    assert topic.is_processable is False
    assert topic.parser_name == ""
