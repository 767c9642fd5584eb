"""SenML CBOR (RFC 8428 section 6): a CBOR array of maps keyed by integer labels, read into the JSON shape.

Detected from the payload's first byte: a CBOR array (major type 4, 0x80-0x9f) or the self-describe tag
55799 (0xd9 0xd9 0xf7); a JSON pack starts with "[" or whitespace, so the two cannot be confused.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import cbor2

from .base import DECODE, DEFAULT_MAX_JSON_DEPTH, ParseFailure, setting

# RFC 8428 table 6: CBOR labels of the SenML fields.
LABELS = {
    -1: "bver",
    -2: "bn",
    -3: "bt",
    -4: "bu",
    -5: "bv",
    -6: "bs",
    0: "n",
    1: "u",
    2: "v",
    3: "vs",
    4: "vb",
    5: "s",
    6: "t",
    7: "ut",
    8: "vd",
}
_SELF_DESCRIBE = b"\xd9\xd9\xf7"


def looks_like_cbor(payload: bytes) -> bool:
    first = payload[0]
    return 0x80 <= first <= 0x9F or payload[:3] == _SELF_DESCRIBE


def load_cbor_pack(payload: bytes) -> Any:
    """The pack as JSON-shaped records ({"bn": ...}); a ParseFailure of kind "decode" at "cbor" when the bytes
    are not CBOR (truncated, too deep, a break out of place): one error group however the bytes break."""
    depth = setting("MQTT_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
    try:
        data = cbor2.loads(payload, max_depth=depth)
    except (cbor2.CBORDecodeError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        message = str(exc)[:200]
        raise ParseFailure(DECODE, f"not a SenML CBOR pack: {message}", location="cbor") from None
    if isinstance(data, tuple):  # cbor2 reads a tagged pack as immutable: a tuple of frozendicts
        data = list(data)
    if not isinstance(data, list):
        return data  # the pack's model says what is wrong with it
    return [_record(item) for item in data]


def _record(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    record: dict[Any, Any] = {}
    for key, value in item.items():
        name = key if key.__class__ is str else LABELS.get(key) if key.__class__ is int else None
        if name is None:
            continue  # a label this version does not know, ignored like an unknown JSON field
        if name == "vd" and isinstance(value, bytes):
            value = base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")  # as in SenML JSON
        record[name] = value
    return record
