"""What the fault streams publish: numbered messages the generic JSON parser stores as readings with metric
`seq` (so what was stored can be counted exactly), and hostile payloads that must not fail the messages
beside them. Hostile payloads are bytes as a device would send them: JSON escapes are text, not characters."""

from __future__ import annotations

import json

SEQ_TOPIC = "faults/line1/counter"  # generic JSON: device "counter", metric "seq"
SEQ_METRIC = "seq"
ZIGBEE_TOPIC = "zigbee2mqtt/faults_sensor"
RAW_TOPIC = "faults/line1/raw"
SUBSCRIPTIONS = [{"filter": "faults/#", "qos": 1}, {"filter": "zigbee2mqtt/#", "qos": 1}]


def numbered(seq: int) -> bytes:
    return json.dumps({SEQ_METRIC: seq}).encode()


def _digits(count: int) -> bytes:
    return b"1" + b"0" * count


# (topic, payload, what it is). The numbered topic carries some of them on purpose: a parse failure or an
# unstorable reading on the same topic, in the same batch, is the case that must not lose its neighbours.
HOSTILE: list[tuple[str, bytes, str]] = [
    (SEQ_TOPIC, rb'{"\ud800": 1}', "lone high surrogate as a key (JSON escape text)"),
    (ZIGBEE_TOPIC, rb'{"temperature": 1, "\udfff": 2}', "lone low surrogate key on a zigbee2mqtt topic"),
    (ZIGBEE_TOPIC, rb'{"temperature": 2, "action": "\ud83d"}', "lone surrogate in a text value (a text reading)"),
    (ZIGBEE_TOPIC, rb'{"state": "ON\u0000", "linkquality": 3}', "NUL escape in a text value"),
    (SEQ_TOPIC, rb'{"a\u0000b": 1}', "NUL escape in a key (a metric name)"),
    (RAW_TOPIC, b"\x00\x00\x00\x00", "raw NUL bytes"),
    (SEQ_TOPIC, rb'{"\u0001\u001b[31m": 2, "ok": 1}', "control characters in a key"),
    (RAW_TOPIC, b"\x01\x02\x1b[31m\x7f\x08", "raw control bytes"),
    (SEQ_TOPIC, b'{"v": 1e400}', "a float that overflows to infinity"),
    (SEQ_TOPIC, b'{"v": ' + _digits(400) + b"}", "10**400, an integer no float holds"),
    (SEQ_TOPIC, b'{"v": -' + _digits(5000) + b"}", "an integer past Python's 4,300-digit parsing limit"),
    (RAW_TOPIC, _digits(400), "10**400 as a plain number"),
    (SEQ_TOPIC, b'{"v": NaN, "w": Infinity}', "NaN and Infinity literals"),
    (SEQ_TOPIC, b"[" * 100_000 + b"]" * 100_000, "100,000 nested arrays"),
    (SEQ_TOPIC, b'{"a":' * 2_000 + b"1" + b"}" * 2_000, "2,000 nested objects"),
    (SEQ_TOPIC, b'{"k\xff": 1, "\xfe": 2}', "invalid UTF-8 inside JSON"),
    (RAW_TOPIC, b"\xff\xfe\xfd", "invalid UTF-8"),
    (SEQ_TOPIC, b"", "an empty payload"),
    (SEQ_TOPIC, json.dumps({f"f{i}": i for i in range(5_000)}).encode(), "5,000 fields"),
]


def oversized(max_payload_bytes: int) -> bytes:
    """A JSON object just over the product's MQTT_MAX_PAYLOAD_BYTES (the listener drops it and counts it)."""
    return b'{"pad": "' + b"x" * (max_payload_bytes + 1024) + b'"}'
