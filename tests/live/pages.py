"""A started connection and an open topic page: what the live-view tests begin with."""

from __future__ import annotations


def started_connection(broker, filters: str = "plant/#"):  # noqa: ANN001, ANN201
    """A connection to the test broker, started, once it is connected (needs a worker and a listener)."""
    from mqtt_app.models import MqttConnection, Site
    from mqtt_app.services.control import set_active
    from tests.helpers import wait_for

    site = Site.objects.create(name="Plant North")
    connection = MqttConnection.objects.create(
        site=site, name="line-1", host=broker.host, port=broker.port, is_active=False,
        topics=[{"filter": filters, "qos": 1}],
    )  # fmt: skip
    set_active([connection.pk], True)
    wait_for(lambda: connection_status(connection.pk) == "connected", timeout=30, what="the connection to connect")
    return connection


def connection_status(pk: int) -> str:
    from mqtt_app.models import MqttConnection

    return MqttConnection.objects.get(pk=pk).status


def open_topic_page(browser_page, server, broker, publish):  # noqa: ANN001, ANN201
    """A started connection with one topic (plant/boiler/temperature, its first value 1000), and that topic's
    page open and subscribed; returns (page, connection, topic)."""
    from mqtt_app.models import MqttTopic
    from tests.helpers import wait_for

    connection = started_connection(broker)
    publish("plant/boiler/temperature", b"1000")
    topic = wait_for(lambda: MqttTopic.objects.filter(connection=connection).first(), timeout=30, what="the topic")
    browser_page.login(server.url, "operator", "operator-pass")
    page = browser_page.page
    page.goto(f"{server.url}/topics/{topic.pk}/")
    page.locator(f'#live-state[data-subscribed~="{connection.pk}"]').wait_for()
    return page, connection, topic
