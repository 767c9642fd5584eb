"""By default (MQTT_ALERT_ALLOW_PRIVATE_TARGETS off) webhook and Apprise targets on loopback, private, link-local
and other non-public addresses are refused: when the rule is saved (API 422 naming the field, admin form error)
and when sending, against the addresses the name resolves to then (DNS rebinding), for good (not retried)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from mqtt_app.alerts.channels import send
from mqtt_app.alerts.models import NotificationChannel
from mqtt_app.models import Role
from tasks.alerts import deliver

from .test_api import client_with

pytestmark = pytest.mark.django_db
REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "https://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://inside.example/hook",  # resolves to 127.0.0.1 (the fake DNS below)
]
APPRISE_REFUSED = ["json://127.0.0.1:8080/hook", "xml://10.0.0.1/x", "form://169.254.169.254/x",
                   "ntfys://192.168.1.5/alerts", "jsons://inside.example/x"]  # fmt: skip


@pytest.fixture(autouse=True)
def _default_setting(settings) -> None:
    settings.MQTT_ALERT_ALLOW_PRIVATE_TARGETS = False


@pytest.fixture
def dns(monkeypatch) -> Iterator[dict[str, str]]:
    """Names this test's resolver answers (anything else resolves as usual): DNS is outside the machine."""
    names = {"inside.example": "127.0.0.1", "public.example": "93.184.216.34"}
    real: Callable[..., Any] = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        return real(names.get(host, host), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield names


def _create(client: Client, site_id: int, channel: dict[str, str]) -> Any:  # noqa: ANN401
    body = {"name": "r", "kind": "connection_down", "site": site_id, "channels": [channel]}
    return client.post("/api/alert-rules", json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("url", REFUSED)
def test_the_api_refuses_a_webhook_on_a_private_address(django_user_model, site, dns, url):
    response = _create(client_with(django_user_model, site, Role.MANAGER), site.pk, {"type": "webhook", "url": url})
    assert response.status_code == 422, response.content
    (error,) = response.json()["errors"]
    assert error["field"] == "channels.0.url"
    assert "private targets are refused (MQTT_ALERT_ALLOW_PRIVATE_TARGETS)" in error["message"]
    assert " address" in error["message"]


@pytest.mark.parametrize("url", APPRISE_REFUSED)
def test_the_api_refuses_an_apprise_url_on_a_private_address(django_user_model, site, dns, url):
    response = _create(client_with(django_user_model, site, Role.MANAGER), site.pk, {"type": "apprise", "url": url})
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"] == "channels.0.url"


@pytest.mark.parametrize(
    ("kind", "url"),
    [("webhook", "http://93.184.216.34/hook"), ("webhook", "https://public.example/hook"),
     ("webhook", "https://does-not-resolve.example/hook"), ("apprise", "json://93.184.216.34/x"),
     ("apprise", "ntfy://mqttmon-alerts"), ("apprise", "tgram://123456789:abcdefgh/123")],
)  # fmt: skip
def test_the_api_accepts_public_and_cloud_targets(django_user_model, site, dns, kind, url):
    response = _create(client_with(django_user_model, site, Role.MANAGER), site.pk, {"type": kind, "url": url})
    assert response.status_code == 201, response.content


def test_the_setting_allows_private_targets(django_user_model, site, settings):
    settings.MQTT_ALERT_ALLOW_PRIVATE_TARGETS = True
    manager = client_with(django_user_model, site, Role.MANAGER)
    assert _create(manager, site.pk, {"type": "webhook", "url": "http://127.0.0.1:8080/x"}).status_code == 201


def test_the_admin_refuses_a_private_target(django_user_model, site):
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    form = {"name": "r", "kind": "connection_down", "site": str(site.pk), "connection": "", "topic": "",
            "filter": "", "metric": "", "op": "", "value": "", "clear_value": "", "for_seconds": "60",
            "is_enabled": "on", "channels-TOTAL_FORMS": "1", "channels-INITIAL_FORMS": "0",
            "channels-MIN_NUM_FORMS": "0", "channels-MAX_NUM_FORMS": "1000", "channels-0-type": "webhook",
            "channels-0-target": "http://169.254.169.254/latest/meta-data/"}  # fmt: skip
    response = admin.post(reverse("admin:mqtt_alertrule_add"), form)
    assert response.status_code == 200  # the form again, with its error
    assert "169.254.169.254 is a link-local address: private targets are refused" in response.content.decode()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "[::1]", "inside.example"])
def test_sending_to_a_private_address_is_refused_for_good(make_rule, receiver, dns, host, caplog):
    port = receiver.server.server_address[1]
    rule = make_rule("connection_down")
    # Saved without validation: a rule from before the setting, or a name that resolved elsewhere then.
    channel = NotificationChannel.objects.create(rule=rule, type="webhook", target=f"http://{host}:{port}/hook")
    with caplog.at_level(logging.WARNING, logger="mqtt_app.alerts.channels"):
        assert deliver.apply(args=[channel.pk, {"state": "test"}]).get() is False
    assert receiver.requests == []
    assert "target refused, message dropped" in caplog.text and "retrying" not in caplog.text


def test_a_name_rebound_to_loopback_after_validation_is_refused_when_sending(
    django_user_model, site, receiver, dns, caplog
):
    port = receiver.server.server_address[1]
    manager = client_with(django_user_model, site, Role.MANAGER)
    dns["rebind.example"] = "93.184.216.34"
    created = _create(manager, site.pk, {"type": "webhook", "url": f"http://rebind.example:{port}/hook"})
    assert created.status_code == 201, created.content
    dns["rebind.example"] = "127.0.0.1"  # the attacker's DNS answers differently now
    with caplog.at_level(logging.WARNING, logger="mqtt_app.alerts.channels"):
        assert send(created.json()["channels"][0]["id"], {"state": "test"}) is False
    assert receiver.requests == [] and "rebind.example resolves to 127.0.0.1, a loopback address" in caplog.text


def test_an_apprise_url_on_a_private_address_is_refused_when_sending(make_rule, receiver):
    rule = make_rule("connection_down")
    target = receiver.url.replace("http://", "json://")
    channel = NotificationChannel.objects.create(rule=rule, type="apprise", target=target)
    assert send(channel.pk, {"state": "firing", "rule": {"name": "r"}, "subject": "s", "since": "", "url": ""}) is False
    assert receiver.requests == []


def test_with_the_setting_on_a_private_webhook_is_delivered(make_rule, receiver, settings):
    settings.MQTT_ALERT_ALLOW_PRIVATE_TARGETS = True
    rule = make_rule("connection_down", channels=[("webhook", receiver.url)])
    assert send(rule.channels.get().pk, {"state": "test"}) is True
    assert receiver.wait_for(lambda got: len(got) >= 1)[0].json() == {"state": "test"}


def test_a_https_webhook_on_a_private_address_is_refused_when_sending(make_rule, receiver, dns):
    rule = make_rule("connection_down")
    channel = NotificationChannel.objects.create(rule=rule, type="webhook", target="https://inside.example/hook")
    assert send(channel.pk, {"state": "test"}) is False
    assert receiver.requests == []


def test_the_webhook_connects_to_the_address_checked_and_keeps_the_host_name(make_rule, receiver, dns, monkeypatch):
    # Treat the receiver's loopback as public for this test: what is checked is what is connected to.
    from mqtt_app.alerts import targets

    checked: list[str] = []

    def only_record(address: Any) -> None:  # noqa: ANN401
        checked.append(str(address))

    monkeypatch.setattr(targets, "address_problem", only_record)
    dns["hooks.test"] = "127.0.0.1"
    port = receiver.server.server_address[1]
    rule = make_rule("connection_down")
    channel = NotificationChannel.objects.create(rule=rule, type="webhook", target=f"http://hooks.test:{port}/hook")
    assert send(channel.pk, {"state": "test"}) is True
    (request,) = receiver.wait_for(lambda got: len(got) >= 1)
    assert request.headers["Host"] == f"hooks.test:{port}" and checked == ["127.0.0.1"]
