"""The fast reader (mqtt_app/listener/reader.py) uses paho-mqtt's private methods: any other version than the one
it was checked against must be looked at before it runs."""

from __future__ import annotations

import re
from importlib.metadata import version

from faults.procs import ROOT
from mqtt_app.listener.reader import PAHO_CHECKED

RECHECK = """
The listener's fast reader (mqtt_app/listener/reader.py) overrides or uses paho-mqtt's private methods and
attributes, checked against paho-mqtt {checked}; found: {found}. Before changing PAHO_CHECKED, re-check in the
new paho-mqtt/src/paho/mqtt/client.py:
- Client._sock_recv, _packet_handle, _handle_publish, _handle_on_message, _sock_close, _loop_rc_handle,
  _easy_log: same names, arguments and return codes (MQTTErrorCode);
- the attributes _sock, _ssl, _in_packet (its keys), _out_packet (its keys), _last_bytes_received,
  _in_callback_mutex, _userdata, _protocol, _client_id, and paho.mqtt._packet.decode_publish;
- that paho still reads one packet per _packet_read and acknowledges nothing itself with manual_ack=True;
then run tests/lifecycle with MQTT_FAST_READER=true and with MQTT_FAST_READER=false (docs/listener.md).
Meanwhile MQTT_FAST_READER=false runs the listener on paho's public API only.
"""


def pinned() -> str:
    found = re.search(r"^paho-mqtt==(\S+)", (ROOT / "requirements" / "base.txt").read_text(), re.MULTILINE)
    assert found, "requirements/base.txt must pin paho-mqtt exactly (paho-mqtt==x.y.z)"
    return found.group(1)


def test_paho_mqtt_is_pinned_to_the_version_the_fast_reader_was_checked_against():
    assert pinned() == PAHO_CHECKED, RECHECK.format(checked=PAHO_CHECKED, found=f"the pin {pinned()}")


def test_the_installed_paho_mqtt_is_that_version():
    installed = version("paho-mqtt")
    assert installed == PAHO_CHECKED, RECHECK.format(checked=PAHO_CHECKED, found=f"{installed} installed")
