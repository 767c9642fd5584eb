"""TLS from the PEM fields of the model: a trusted CA, a client certificate, and explicit "skip verification"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mqtt_app.models import MqttConnection
from mqtt_app.services.reconcile import run_reconcile
from tests.helpers import wait_for
from tests.lifecycle.listeners import heartbeat, held_status

# Both read paths: the fast reader and stock paho-mqtt's (MQTT_FAST_READER, docs/listener.md).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("fast_reader", ["true", "false"]),
]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    folder = tmp_path / "pki"
    folder.mkdir()
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=folder,
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=folder,
        )
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            f"{name}.pem",
            cwd=folder,
        )
    return folder


def test_tls_connects_with_the_ca_and_client_certificate_and_refuses_an_untrusted_server(
    broker_factory, pki, make_connection, listener_factory, redis_client
):
    extra = "\n".join(
        [
            f"cafile {pki / 'ca.pem'}",
            f"certfile {pki / 'server.pem'}",
            f"keyfile {pki / 'server.key'}",
            "require_certificate true",
        ]
    )
    broker = broker_factory(extra_config=extra)
    pem = {name: (pki / name).read_text() for name in ("ca.pem", "client.pem", "client.key")}
    trusted = make_connection(
        broker,
        tls_enabled=True,
        tls_ca_certs=pem["ca.pem"],
        tls_client_cert=pem["client.pem"],
        tls_client_key=pem["client.key"],
    )
    insecure = make_connection(
        broker, tls_enabled=True, tls_insecure=True, tls_client_cert=pem["client.pem"], tls_client_key=pem["client.key"]
    )
    untrusted = make_connection(
        broker, tls_enabled=True, tls_client_cert=pem["client.pem"], tls_client_key=pem["client.key"]
    )  # the system store does not know test-ca
    listener_factory("L1")
    run_reconcile()
    for connection in (trusted, insecure):
        wait_for(
            lambda c=connection: held_status(redis_client, "L1", c.pk) == "connected",
            timeout=10,
            what=f"TLS connection {connection.name}",
        )

    def untrusted_refused() -> str:
        state = heartbeat(redis_client, "L1")["connections"].get(str(untrusted.pk)) or {}
        return state.get("status") == "reconnecting" and state.get("detail")

    assert "CERTIFICATE_VERIFY_FAILED" in wait_for(untrusted_refused, timeout=10, what="a verification failure")
    assert MqttConnection.objects.filter(tls_enabled=True).count() == 3
