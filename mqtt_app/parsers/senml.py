"""SenML, RFC 8428 JSON: a pack (array) of records, with base fields folded into the records that follow.

Resolution (RFC 8428 section 4.6), record by record, in order; a base field applies until changed:
- name  = bn + n        (bn: base name)
- time  = bt + t        (bt: base time); a resolved time below 2**28 is relative to "now", which here is
                        the message's receive time; 0 (no time at all) means "roughly now" -> receive time.
- unit  = u, else bu    (bu: base unit)
- value = bv + v for numbers (bv: base value); vs (text), vb (boolean) and vd (data, kept as its base64
          text) are taken as they are. A sum `s` (plus `bs`) becomes an extra reading "<metric>.sum".

Device and metric: the base name (without its trailing ":" or "/") is the device and `n` the metric, as in
the RFC's own examples (`urn:dev:ow:10e2073a01080063:` + `voltage`). With no base name, the device is the
last topic level and the whole name the metric; with no `n`, the metric is the unit (the RFC's example of
one sensor sending "%RH", "lon" and "lat" records) or "value".

LwM2M object paths: OMA LwM2M gateways name records by object path (`{"bn": "/3/0/", "n": "0"}`,
`{"bn": "/72/", "n": "1/2"}`). A resolved name that begins with "/" is such a path: the whole path is the
metric ("/3/0/0") and the device is the last topic level, as for a pack without a base name.

Names: RFC 8428's rule (`[A-Za-z0-9][A-Za-z0-9:./_-]*`) refuses those paths, so by default the rule is
lenient: any name without whitespace or control characters. The `senml_strict` parser keeps the RFC's rule.

CBOR: a pack in SenML CBOR (RFC 8428 section 6, integer labels) is read as well as JSON, told apart by its
first byte (senml_cbor.py).

Refused, as the RFC requires: a record with more than one value field, a record with neither value nor sum
(records of base fields only are allowed and give no reading),
fields whose name ends in "_" ("must understand" extensions we do not know), a resolved name outside the
name rule, and a base version above 10.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import ConfigDict, RootModel, ValidationError
from typing_extensions import TypedDict  # Pydantic needs this one on Python < 3.12

from .base import ParseFailure, Parser, Reading, plain_json
from .common import FiniteFloat, epoch_to_datetime
from .senml_cbor import load_cbor_pack, looks_like_cbor

RELATIVE_TIME_LIMIT = 2**28  # RFC 8428 4.5.3: smaller times are relative to now
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9:./_-]*\Z")  # RFC 8428 section 4.5.1 (senml_strict)
LENIENT_NAME_PATTERN = re.compile(r"[^\s\x00-\x1f\x7f]+\Z")  # the default: LwM2M paths begin with "/"
VALUE_FIELDS = ("v", "vs", "vb", "vd")


class SenMLRecord(TypedDict, total=False):
    """A SenML record (RFC 8428 section 4): base fields, name, unit, one value or a sum, time."""

    # A TypedDict holds only the fields a record carries: validated 2-3x faster than a model with 15
    # defaults, and the parser reads it with `.get`. Unknown fields are dropped.

    __pydantic_config__ = ConfigDict(extra="ignore")  # type: ignore[misc]

    bn: str | None
    bt: FiniteFloat | None
    bu: str | None
    bv: FiniteFloat | None
    bs: FiniteFloat | None
    bver: int | None
    n: str | None
    u: str | None
    v: FiniteFloat | None
    vs: str | None
    vb: bool | None
    vd: str | None
    s: FiniteFloat | None
    t: FiniteFloat | None
    ut: FiniteFloat | None


class SenMLPack(RootModel[list[SenMLRecord]]):
    """A SenML pack: a JSON array of records."""


@dataclass(slots=True)
class SenMLPayload:
    """What `parse` gets: the validated records and the receive time relative times count from. (A
    Pydantic private attribute on the pack cost 5 µs to set and 5 more to read: a third of the parse.)"""

    records: list[SenMLRecord]
    received_at: datetime | None


class SenMLParser(Parser):
    name = "senml"
    description = "SenML (RFC 8428) JSON or CBOR packs, with base name/time/unit/value folding; LwM2M paths."
    payload_model = SenMLPack
    topic_filters: ClassVar[tuple[str, ...]] = ("+/senml", "senml/#")
    binary = True  # CBOR packs
    name_pattern: ClassVar[re.Pattern[str]] = LENIENT_NAME_PATTERN
    _own_steps: ClassVar[bool] = True  # this class's steps; see __init_subclass__

    @classmethod
    def recognises(cls, topic: str, data: Any) -> bool:
        return (
            isinstance(data, list)
            and bool(data)
            and all(isinstance(record, dict) for record in data)
            and any(key in data[0] for key in ("bn", "n", "v", "vs", "vb", "vd", "s"))
        )

    def read_binary(self, topic: str, payload: bytes, received_at: datetime | None) -> Any:
        if looks_like_cbor(payload):
            return self.validate(topic, load_cbor_pack(payload), received_at)
        return NotImplemented  # JSON text

    def read(self, topic: str, text: str, received_at: datetime | None) -> SenMLPayload:
        """Pydantic's one-step JSON validation when no key can end in "_" (no `_"` and no escape in the
        text: the model ignores unknown keys, so only the long way can see and refuse them)."""
        if self._own_steps and '_"' not in text and "\\" not in text and plain_json(text):
            try:
                pack = SenMLPack.model_validate_json(text)
            except ValidationError:
                pass  # the long way says what is wrong, exactly as it always has
            else:
                return self._checked(pack, received_at)
        return self.validate(topic, self.load(text), received_at)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # `read` must not skip a subclass's own `load`, `validate` or model.
        cls._own_steps = (
            cls.json_in_one_step
            and cls.load is Parser.load
            and cls.validate is SenMLParser.validate
            and cls.payload_model is SenMLPack
        )

    def validate(self, topic: str, data: Any, received_at: datetime | None) -> SenMLPayload:
        """The pack's model, plus the RFC's rules Pydantic cannot say, checked here rather than in model
        validators: a Python validator per record cost as much as the rest of the validation."""
        if data.__class__ is list:
            for index, record in enumerate(data):
                if record.__class__ is dict:
                    for key in record:
                        if key.__class__ is str and key[-1:] == "_":
                            raise _invalid(index, f"must-understand field {key!r} is not supported")
        return self._checked(SenMLPack.model_validate(data), received_at)

    @staticmethod
    def _checked(pack: SenMLPack, received_at: datetime | None) -> SenMLPayload:
        for index, record in enumerate(pack.root):
            present = [name for name in VALUE_FIELDS if record.get(name) is not None]
            if len(present) > 1:
                raise _invalid(index, f"a record carries one value, not {', '.join(present)}")
            bver = record.get("bver")
            if bver is not None and not 1 <= bver <= 10:
                raise _invalid(index, f"base version {bver} is not supported (1 to 10)")
        return SenMLPayload(pack.root, received_at)

    def parse(self, topic: str, payload: SenMLPayload) -> list[Reading]:
        received_at = payload.received_at or datetime.now(UTC)
        topic_device = topic.rsplit("/", 1)[-1]
        bn, bt, bu, bv, bs = "", 0.0, "", 0.0, 0.0  # base fields, each kept until a record changes it
        device = topic_device
        times: dict[float, datetime | None] = {}  # a pack's records often share one time
        name_ok = self.name_pattern.match
        readings: list[Reading] = []
        for index, record in enumerate(payload.records):
            get: Callable[[str], Any] = record.get
            if (value := get("bn")) is not None:
                bn = value
                device = bn.rstrip(":/") if bn else topic_device
            if (value := get("bt")) is not None:
                bt = value
            if (value := get("bu")) is not None:
                bu = value
            if (value := get("bv")) is not None:
                bv = value
            if (value := get("bs")) is not None:
                bs = value
            n, s = get("n"), get("s")
            value = _value(record, bv)
            if value is _MISSING and s is None:
                if n is None and get("u") is None and get("t") is None:
                    continue  # a record of base fields only (RFC 8428 5.1.7's first record)
                raise ParseFailure.invalid(str(index), "a record needs a value (v, vs, vb, vd) or a sum (s)", "missing")
            name = bn + (n or "")
            if not name_ok(name):
                loc = f"{index}.n" if n is not None else f"{index}.bn"
                raise ParseFailure.invalid(loc, f"resolved name {name!r} is not a valid SenML name", "senml_name")
            unit = get("u")
            if unit is None:
                unit = bu
            if name[:1] == "/":  # an LwM2M object path: the whole path names the value
                readings_device, metric = topic_device, name
            else:
                readings_device, metric = device, ((n or "") if bn else name) or unit or "value"
            resolved = bt + (get("t") or 0.0)
            try:
                timestamp = times[resolved]
            except KeyError:
                timestamp = times[resolved] = _time(index, resolved, received_at)
            if value is not _MISSING:
                readings.append(Reading(readings_device, metric, value, unit, timestamp))
            if s is not None:
                readings.append(Reading(readings_device, f"{metric}.sum", bs + s, unit, timestamp))
        return readings


class SenMLStrictParser(SenMLParser):
    """SenML with RFC 8428's name rule: a resolved name must match `[A-Za-z0-9][A-Za-z0-9:./_-]*`."""

    name = "senml_strict"
    description = "SenML (RFC 8428) JSON or CBOR packs, names held to the RFC's rule (no LwM2M paths)."
    topic_filters = ()
    name_pattern = NAME_PATTERN


def _value(record: SenMLRecord, bv: float) -> Any:
    value = record.get("v")
    if value is not None:
        return bv + value
    for field in ("vs", "vb", "vd"):
        other: object = record.get(field)
        if other is not None:
            return other
    return _MISSING


def _time(index: int, resolved: float, received_at: datetime) -> datetime | None:
    if resolved == 0:
        return None  # RFC 8428: no time means "roughly now"
    if resolved < RELATIVE_TIME_LIMIT:
        if abs(resolved) > 10 * 365 * 86400:
            raise ParseFailure.invalid(f"{index}.t", "relative time is more than ten years away", "senml_time")
        return received_at + timedelta(seconds=resolved)
    absolute = epoch_to_datetime(resolved, milliseconds=False)
    if absolute is None:
        raise ParseFailure.invalid(f"{index}.t", f"time {resolved} is out of range", "senml_time")
    return absolute


_MISSING = object()


def _invalid(index: int, message: str) -> ParseFailure:
    """A record-level rule broken: located at the record, like Pydantic's own model-level errors."""
    return ParseFailure.invalid(str(index), f"Value error, {message}", "value_error")
