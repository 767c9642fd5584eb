"""The parser contract: `Reading`, `Parser`, and the one exception of this boundary, `ParseFailure`.

A parser is a small class. The registry (registry.py) does everything around it that must be the same for
every parser: size and emptiness limits, UTF-8 decoding, JSON loading with a depth limit, Pydantic
validation, catching whatever the parser raises, and rejecting non-finite numbers. So a parser only says
what its payload looks like (`payload_model`) and how one validated payload becomes readings (`parse`).

This module must not import Django models: the registry is used by the listener, the worker, the API and
the benchmark script, some of which import it before the app registry is ready.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

# The values of mqtt_app.models.ParseErrorKind (a test keeps the two in step).
DECODE = "decode"
EMPTY = "empty"
JSON = "json"
VALIDATION = "validation"
TOO_LARGE = "too_large"
PARSER_EXCEPTION = "parser_exception"
UNKNOWN_PARSER = "unknown_parser"
KINDS = (DECODE, EMPTY, JSON, VALIDATION, TOO_LARGE, PARSER_EXCEPTION, UNKNOWN_PARSER)

MAX_ERRORS = 20  # Pydantic errors kept per failure: enough to diagnose, small enough to store
DEFAULT_MAX_JSON_DEPTH = 32  # real telemetry nests 2-5 levels; deeper is a broken or hostile publisher


@dataclass(slots=True)
class Reading:
    """One value of one metric of one device. `timestamp` None means "use the receive time"."""

    device: str
    metric: str
    value: float | bool | str | None
    unit: str = ""
    timestamp: datetime | None = None


class ParseFailure(Exception):
    """A payload that could not be turned into readings; `kind` is one of mqtt_app.models.ParseErrorKind.

    `errors` is a list of {"loc": "a.b.0", "msg": str, "type": str}; `location` is the first error's loc.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        parser: str = "",
        errors: list[dict[str, str]] | None = None,
        location: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.parser = parser
        self.errors = errors or []
        self.location = location or (self.errors[0]["loc"] if self.errors else "")

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"{self.kind}{where}: {self.message}"

    def __repr__(self) -> str:
        return f"ParseFailure(kind={self.kind!r}, parser={self.parser!r}, location={self.location!r})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "parser": self.parser,
            "errors": self.errors,
            "location": self.location,
        }

    @classmethod
    def invalid(cls, loc: str, msg: str, error_type: str, parser: str = "") -> ParseFailure:
        """A validation failure found by a parser itself, after Pydantic (e.g. an out-of-range time)."""
        return cls(VALIDATION, f"{loc or 'payload'}: {msg}", parser, [{"loc": loc, "msg": msg, "type": error_type}])

    @classmethod
    def from_validation_error(cls, exc: ValidationError, parser: str) -> ParseFailure:
        details = exc.errors(include_url=False, include_context=False, include_input=False)
        errors = [
            {"loc": ".".join(str(part) for part in error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in details[:MAX_ERRORS]
        ]
        first = errors[0]
        count = exc.error_count()
        message = f"{count} validation error{'s' if count != 1 else ''}; {first['loc'] or 'payload'}: {first['msg']}"
        return cls(VALIDATION, message, parser, errors)


class UnknownParser(ParseFailure, KeyError):
    """No parser of that name is registered. A KeyError for lookups, a ParseFailure for `run`."""

    def __init__(self, name: str) -> None:
        super().__init__(UNKNOWN_PARSER, f"no parser named {name!r} is registered", parser=name)
        self.name = name

    def __str__(self) -> str:  # KeyError would otherwise print the repr of its first argument
        return self.message


class Parser:
    """Base class of every parser. Subclasses set the class attributes and implement `parse`.

    - `name`: unique in the registry; stored on topics and parse-error rows (<= 100 characters).
    - `payload_model`: the Pydantic model one payload is validated with (its JSON schema is published).
    - `topic_filters`: MQTT filters of the topics this parser claims by default.
    - `payload_format`: "json" (the payload is a JSON document) or "text" (the UTF-8 text, handed to
      `load` to shape for the model). Informative (shown by the API); `load` does the work.
    - `fallback`: asked last when payload sniffing looks for a parser (generic_json, plain_number).
    - `binary`: True hands the payload bytes to `read_binary` first (SenML CBOR, Sparkplug's protobuf);
      it returns what `parse` gets, or NotImplemented for "UTF-8 text: `read` it as usual".
    - `json_in_one_step`: False keeps Pydantic's Python-mode validation of the decoded JSON (see `read`):
      for a strict model, JSON mode takes an ISO string for a datetime, a string for an Enum, a list for a
      tuple, and validators see `info.mode == "json"`.

    The steps from payload text to readings: `read` (= `load`, then `validate`), then `parse`. Override
    `load` or `validate` to shape or check a payload beyond its model; `read` only to keep a fast path of
    your own (senml.py does: Pydantic's one-step JSON validation, with its extra rules checked after).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    payload_model: ClassVar[type[BaseModel]]
    topic_filters: ClassVar[tuple[str, ...]] = ()
    payload_format: ClassVar[str] = "json"
    fallback: ClassVar[bool] = False
    binary: ClassVar[bool] = False
    json_in_one_step: ClassVar[bool] = True
    _fused: ClassVar[bool] = False

    @classmethod
    def accepts_topic(cls, topic: str) -> bool:
        """Refine `topic_filters` (MQTT filters cannot say "not ending in /set"). Default: accept."""
        return True

    @classmethod
    def recognises(cls, topic: str, data: Any) -> bool:
        """Claim a topic no filter claims, from its first payload (`data`: decoded JSON, or the text)."""
        return False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only a parser that keeps both default steps can have them fused by Pydantic (see `read`).
        cls._fused = cls.json_in_one_step and cls.load is Parser.load and cls.validate is Parser.validate

    def read(self, topic: str, text: str, received_at: datetime | None) -> Any:  # what `parse` gets
        """The decoded payload text as a validated model: `load`, then `validate`.

        Where both are the defaults, Pydantic parses and validates the JSON in one step, with no Python
        dict in between (2-3x cheaper: this is the hot path). Whatever that step refuses goes the long way
        again, so a failure reads exactly as the two steps say it (errors are rare; the retry is cheap), and
        the model's validators run twice for such a payload.
        """
        if self._fused and plain_json(text):
            try:
                context = {"topic": topic, "received_at": received_at}
                return self.payload_model.model_validate_json(text, context=context)
            except ValidationError:
                pass
        return self.validate(topic, self.load(text), received_at)

    def read_binary(self, topic: str, payload: bytes, received_at: datetime | None) -> Any:
        """Only for `binary` parsers: the payload bytes as what `parse` gets, or NotImplemented (text)."""
        return NotImplemented

    def load(self, text: str) -> Any:
        """Turn the decoded payload text into what `payload_model` validates. Default: JSON."""
        return load_json(text)

    def validate(self, topic: str, data: Any, received_at: datetime | None) -> Any:  # what `parse` gets
        # The context lets models that need them see the topic and the receive time (SenML relative times).
        return self.payload_model.model_validate(data, context={"topic": topic, "received_at": received_at})

    def parse(self, topic: str, payload: Any) -> list[Reading]:
        raise NotImplementedError


def load_json(text: str, max_depth: int | None = None) -> Any:
    """JSON with NaN/Infinity refused and nesting capped; any problem is a ParseFailure of kind "json".

    Pydantic's JSON parser (jiter) is 3-5x faster than the standard library's; what it refuses goes to
    the standard library, whose messages and locations say what is wrong (and which still takes the lone
    surrogates jiter refuses)."""
    try:
        data = from_json(text, allow_inf_nan=False)
    except ValueError:
        data = _strict_load(text)
    if max_depth is None:
        max_depth = setting("MQTT_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
    # Counting brackets is C-fast; only a payload that could be too deep pays for the walk.
    if not shallow(text, max_depth) and json_depth(data) > max_depth:
        raise ParseFailure(JSON, f"JSON nested deeper than {max_depth} levels")
    return data


def shallow(text: str, max_depth: int | None = None) -> bool:
    """True when `text` cannot nest deeper than the limit: it has no more brackets than that."""
    if max_depth is None:
        max_depth = setting("MQTT_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
    return text.count("[") + text.count("{") <= max_depth


def plain_json(text: str) -> bool:
    """True when Pydantic's one-step JSON validation may see `text`: it cannot nest too deep, and has no
    NaN or Infinity, which that step takes where a field is `Any` (such text goes the long way)."""
    return shallow(text) and "NaN" not in text and "Infinity" not in text


def _strict_load(text: str) -> Any:
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ParseFailure(JSON, exc.msg, location=f"line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ParseFailure(JSON, "JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits, or NaN refused below
        raise ParseFailure(JSON, str(exc)) from None


def json_depth(data: Any) -> int:
    """Nesting depth of decoded JSON (a scalar is 0, [] is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


# One decoder for every call: json.loads() with an argument builds a new decoder each time (hot path).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)

_settings_cache: dict[str, Any] = {}


def setting(name: str, default: Any) -> Any:
    """A Django setting, read on first use and cached; registry.py clears the cache on setting_changed,
    so override_settings works. (getattr with a default on an absent setting costs an exception a call.)"""
    try:
        return _settings_cache[name]
    except KeyError:
        from django.conf import settings

        value = _settings_cache[name] = getattr(settings, name, default)
        return value


def clear_setting_cache() -> None:
    _settings_cache.clear()
