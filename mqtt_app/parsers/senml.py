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

Refused, as the RFC requires: a record with more than one value field, a record with neither value nor sum
(records of base fields only are allowed and give no reading),
fields whose name ends in "_" ("must understand" extensions we do not know), a resolved name outside
`[A-Za-z0-9][A-Za-z0-9:./_-]*`, and a base version above 10.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, RootModel, ValidationInfo, model_validator

from .base import ParseFailure, Parser, Reading
from .common import FiniteFloat, epoch_to_datetime

RELATIVE_TIME_LIMIT = 2**28  # RFC 8428 4.5.3: smaller times are relative to now
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9:./_-]*\Z")
VALUE_FIELDS = ("v", "vs", "vb", "vd")


class SenMLRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    bn: str | None = None
    bt: FiniteFloat | None = None
    bu: str | None = None
    bv: FiniteFloat | None = None
    bs: FiniteFloat | None = None
    bver: int | None = None
    n: str | None = None
    u: str | None = None
    v: FiniteFloat | None = None
    vs: str | None = None
    vb: bool | None = None
    vd: str | None = None
    s: FiniteFloat | None = None
    t: FiniteFloat | None = None
    ut: FiniteFloat | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_must_understand(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [key for key in data if isinstance(key, str) and key.endswith("_")]
            if unknown:
                raise ValueError(f"must-understand field {unknown[0]!r} is not supported")
        return data

    @model_validator(mode="after")
    def _one_value(self) -> SenMLRecord:
        present = [field for field in VALUE_FIELDS if getattr(self, field) is not None]
        if len(present) > 1:
            raise ValueError(f"a record carries one value, not {', '.join(present)}")
        if self.bver is not None and not 1 <= self.bver <= 10:
            raise ValueError(f"base version {self.bver} is not supported (1 to 10)")
        return self


class SenMLPack(RootModel[list[SenMLRecord]]):
    """A SenML pack: a JSON array of records."""

    _received_at: datetime | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _keep_receive_time(self, info: ValidationInfo) -> SenMLPack:
        self._received_at = (info.context or {}).get("received_at")
        return self


class SenMLParser(Parser):
    name = "senml"
    description = "SenML (RFC 8428) JSON packs, with base name/time/unit/value folding."
    payload_model = SenMLPack
    topic_filters = ("+/senml", "senml/#")

    @classmethod
    def recognises(cls, topic: str, data: Any) -> bool:
        return (
            isinstance(data, list)
            and bool(data)
            and all(isinstance(record, dict) for record in data)
            and any(key in data[0] for key in ("bn", "n", "v", "vs", "vb", "vd", "s"))
        )

    def parse(self, topic: str, payload: SenMLPack) -> list[Reading]:
        received_at = payload._received_at or datetime.now(UTC)
        topic_device = topic.rsplit("/", 1)[-1]
        base = {"bn": "", "bt": 0.0, "bu": "", "bv": 0.0, "bs": 0.0}
        readings: list[Reading] = []
        for index, record in enumerate(payload.root):
            for key in base:
                value = getattr(record, key)
                if value is not None:
                    base[key] = value
            readings.extend(self._resolve(index, record, base, topic_device, received_at))
        return readings

    def _resolve(
        self, index: int, record: SenMLRecord, base: dict, topic_device: str, received_at: datetime
    ) -> list[Reading]:
        value = self._value(record, base)
        if value is _MISSING and record.s is None:
            if record.n is None and record.u is None and record.t is None:
                return []  # a record of base fields only (RFC 8428 5.1.7's first record)
            raise ParseFailure.invalid(str(index), "a record needs a value (v, vs, vb, vd) or a sum (s)", "missing")
        name = base["bn"] + (record.n or "")
        if not NAME_PATTERN.match(name):
            loc = f"{index}.n" if record.n is not None else f"{index}.bn"
            raise ParseFailure.invalid(loc, f"resolved name {name!r} is not a valid SenML name", "senml_name")
        if base["bn"]:
            device, metric = base["bn"].rstrip(":/"), record.n or ""
        else:
            device, metric = topic_device, name
        unit = record.u if record.u is not None else base["bu"]
        metric = metric or unit or "value"
        timestamp = self._time(index, base["bt"] + (record.t or 0.0), received_at)
        readings = []
        if value is not _MISSING:
            readings.append(Reading(device, metric, value, unit, timestamp))
        if record.s is not None:
            readings.append(Reading(device, f"{metric}.sum", base["bs"] + record.s, unit, timestamp))
        return readings

    @staticmethod
    def _value(record: SenMLRecord, base: dict) -> Any:
        if record.v is not None:
            return base["bv"] + record.v
        for field in ("vs", "vb", "vd"):
            value = getattr(record, field)
            if value is not None:
                return value
        return _MISSING

    @staticmethod
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
