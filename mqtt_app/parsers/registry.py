"""The parser registry: parsers by unique name, topic claiming, and the one safe way to run a parser.

Sources, loaded once, lazily, on first use (`get_registry()`):
  1. the built-in parsers (BUILTIN_PARSERS),
  2. settings.MQTT_PARSERS: dotted paths to Parser subclasses,
  3. the Python entry-point group "mqtt_monitor.parsers" (each entry point loads a Parser subclass).
A name used twice, a path that does not import, or a class that is not a valid Parser raises
ImproperlyConfigured naming the source(s). `check_registry()` builds it for a start-up check.

Claiming a topic (`claim(topic, payload)`):
  1. Topic filters. Among the parsers whose filter matches the topic (and whose `accepts_topic` agrees),
     the most specific filter wins: more literal levels first, then a filter without "#" over one with
     it, then fewer "+", then more levels. On a tie, project parsers (settings, then entry points) win
     over built-ins, then the order they were listed in. E.g. for `tele/plug/SENSOR`, a project filter
     `tele/plug/SENSOR` beats Tasmota's `tele/+/SENSOR`, which beats a project `tele/#`.
  2. Payload recognition, for topics no filter claims: the payload is decoded (JSON if it parses, else
     the text) and each parser's `recognises(topic, data)` is asked: project parsers, then built-ins
     (SenML packs, Shelly notifications), then the fallbacks: generic_json (any JSON object) and
     plain_number (a bare number or boolean).
  3. Otherwise None: the topic is recorded but not parsed.
Topic-filter results are cached per topic; payload recognition is not (it depends on the payload).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string
from pydantic import BaseModel, ValidationError

from mqtt_app.validators import topic_filter_error

from . import base
from .base import ParseFailure, Parser, Reading, UnknownParser, clear_setting_cache, load_json, setting

logger = logging.getLogger(__name__)

BUILTIN_PARSERS = (
    "mqtt_app.parsers.senml.SenMLParser",
    "mqtt_app.parsers.senml.SenMLStrictParser",
    "mqtt_app.parsers.tasmota.TasmotaParser",
    "mqtt_app.parsers.zigbee2mqtt.Zigbee2MqttParser",
    "mqtt_app.parsers.shelly.ShellyParser",
    "mqtt_app.parsers.homie.HomieParser",
    "mqtt_app.parsers.sparkplug.SparkplugParser",
    "mqtt_app.parsers.generic_json.GenericJsonParser",
    "mqtt_app.parsers.plain_number.PlainNumberParser",
)
ENTRY_POINT_GROUP = "mqtt_monitor.parsers"
DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
MAX_PARSER_NAME = 100  # MqttTopic.parser_name / MqttParsingLog.parser_name
MAX_NAME = 255  # TelemetryReading.device / .metric
MAX_UNIT = 32  # TelemetryReading.unit
CLAIM_CACHE_SIZE = 100_000
_WHITESPACE = frozenset(b" \t\r\n")
PAYLOAD_FORMATS = ("json", "text", "protobuf")


class ParserRegistry:
    """Immutable after construction, so one instance is safely shared by threads."""

    def __init__(self, entries: list[tuple[type[Parser], str]]) -> None:
        self._parsers: dict[str, Parser] = {}
        self._sources: dict[str, str] = {}
        ranked: list[tuple[int, Parser]] = []
        builtin_count = len(BUILTIN_PARSERS)
        for position, (cls, source) in enumerate(entries):
            parser = _instantiate(cls, source)
            if parser.name in self._parsers:
                raise ImproperlyConfigured(
                    f"Two parsers are named {parser.name!r}: {self._sources[parser.name]} and {source}. "
                    "Parser names must be unique; rename one of them."
                )
            self._parsers[parser.name] = parser
            self._sources[parser.name] = source
            # Project parsers rank before built-ins (which come first in `entries`).
            rank = position - builtin_count if position >= builtin_count else len(entries) + position
            ranked.append((rank, parser))
        ranked.sort(key=lambda item: item[0])
        self._filters = sorted(
            ((_specificity(f), rank, f.split("/"), parser) for rank, parser in ranked for f in parser.topic_filters),
            key=lambda item: (tuple(-k for k in item[0]), item[1]),
        )
        self._recognisers = [p for _, p in ranked if not p.fallback] + [p for _, p in ranked if p.fallback]
        self._claims: dict[str, Parser | None] = {}
        self._schemas: dict[str, dict[str, Any]] = {}
        self._warned: set[str] = set()

    # --- lookups ------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._parsers)

    def get(self, name: str) -> Parser:
        try:
            return self._parsers[name]
        except KeyError:
            raise UnknownParser(name) from None

    def source(self, name: str) -> str:
        self.get(name)
        return self._sources[name]

    def schema(self, name: str) -> dict[str, Any]:
        schema = self._schemas.get(name)
        if schema is None:
            schema = self._schemas[name] = self.get(name).payload_model.model_json_schema()
        return schema

    def describe(self) -> list[dict[str, Any]]:
        """Every parser with what the API lists: name, description, filters, format, source, schema."""
        return [
            {
                "name": name,
                "description": parser.description,
                "topic_filters": list(parser.topic_filters),
                "payload_format": parser.payload_format,
                "source": self._sources[name],
                "schema": self.schema(name),
            }
            for name, parser in self._parsers.items()
        ]

    # --- claiming -----------------------------------------------------------------------------------
    def claim(self, topic: str, payload: bytes) -> Parser | None:
        """The parser for a topic not yet assigned one (see the module docstring for the precedence)."""
        parser = self.claim_by_topic(topic)
        if parser is not None:
            return parser
        if topic.rpartition("/")[2].startswith("$"):
            # Device metadata by convention (Homie's $homie "4.0", $name, $state): not readings, even
            # when it looks like a number. A parser can still claim such topics by filter.
            return None
        data = _sniff(payload)
        if data is None:
            return None
        for candidate in self._recognisers:
            try:
                if candidate.recognises(topic, data):
                    return candidate
            except Exception:  # a project's recogniser must not stop ingestion
                self._warn_once(candidate.name, "recognises")
        return None

    def claim_by_topic(self, topic: str) -> Parser | None:
        try:
            return self._claims[topic]
        except KeyError:
            pass
        levels = topic.split("/")
        found = None
        for _, _, pattern, parser in self._filters:
            if _matches(pattern, levels) and self._accepts(parser, topic):
                found = parser
                break
        if len(self._claims) >= CLAIM_CACHE_SIZE:
            self._claims.clear()
        self._claims[topic] = found
        return found

    def _accepts(self, parser: Parser, topic: str) -> bool:
        try:
            return bool(parser.accepts_topic(topic))
        except Exception:
            self._warn_once(parser.name, "accepts_topic")
            return False

    def _warn_once(self, name: str, method: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            logger.warning("Parser %r raised in %s(); treated as 'no' (logged once)", name, method, exc_info=True)

    # --- running ------------------------------------------------------------------------------------
    def run(self, name: str, topic: str, payload: bytes, received_at: datetime | None) -> list[Reading]:
        """Readings from one payload, or a ParseFailure (never another exception for bad input)."""
        parser = self.get(name)
        try:
            if parser.binary:  # SenML CBOR, Sparkplug: bytes first, UTF-8 text only where the parser says so
                raw = _sized(payload, name)
                model = parser.read_binary(topic, raw, received_at)
                if model is NotImplemented:
                    model = parser.read(topic, _decode(raw, name), received_at)
            else:
                model = parser.read(topic, _decode(payload, name), received_at)
            readings = parser.parse(topic, model)
        except ParseFailure as failure:
            failure.parser = failure.parser or name
            raise
        except ValidationError as exc:
            raise ParseFailure.from_validation_error(exc, name) from exc
        except Exception as exc:  # the parser's bug, recorded like bad input; the batch goes on
            message = f"{type(exc).__name__}: {exc}"[:500]
            raise ParseFailure(base.PARSER_EXCEPTION, message, name) from exc
        return _checked(readings, name, received_at)


def _sized(payload: bytes | bytearray | memoryview | str, parser: str) -> bytes:
    """The payload as bytes, refused when over the size limit or empty."""
    if isinstance(payload, str):  # the dry-run API may hand text over
        payload = payload.encode("utf-8", errors="surrogatepass")
    payload = bytes(payload)
    limit = setting("MQTT_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)
    if len(payload) > limit:
        raise ParseFailure(base.TOO_LARGE, f"payload of {len(payload)} bytes is over the {limit}-byte limit", parser)
    if not payload or (payload[0] in _WHITESPACE and not payload.strip()):
        raise ParseFailure(base.EMPTY, "empty payload", parser)
    return payload


def _decode(payload: bytes | bytearray | memoryview | str, parser: str) -> str:
    if isinstance(payload, str):  # the dry-run API may hand text over
        payload = payload.encode("utf-8", errors="surrogatepass")
    size = len(payload)
    limit = setting("MQTT_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)
    if size > limit:
        raise ParseFailure(base.TOO_LARGE, f"payload of {size} bytes is over the {limit}-byte limit", parser)
    if size == 0 or (payload[0] in _WHITESPACE and not bytes(payload).strip()):
        raise ParseFailure(base.EMPTY, "empty payload", parser)
    try:
        return bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseFailure(
            base.DECODE, f"not UTF-8: {exc.reason} at byte {exc.start}", parser, location=f"byte {exc.start}"
        ) from None


def checked_readings(readings: Any, parser: str, received_at: datetime | None) -> list[Reading]:  # noqa: ANN401
    """What `run` checks of a parser's readings, for the parsers ingestion runs itself (Sparkplug)."""
    return _checked(readings, parser, received_at)


def _checked(readings: Any, parser: str, received_at: datetime | None) -> list[Reading]:
    """Refuse what the database cannot store; fill in the receive time."""
    if not isinstance(readings, list):
        raise ParseFailure(base.PARSER_EXCEPTION, f"parse() returned {type(readings).__name__}, not a list", parser)
    for reading in readings:
        if not isinstance(reading, Reading):
            raise ParseFailure(base.PARSER_EXCEPTION, f"parse() returned a {type(reading).__name__}", parser)
        value = reading.value
        kind = value.__class__
        if kind is not float and kind is not bool and kind is not str and value is not None:
            try:
                value = reading.value = float(value)
            except (TypeError, ValueError, OverflowError):
                raise ParseFailure(
                    base.PARSER_EXCEPTION, f"{reading.metric}: a value cannot be a {kind.__name__}", parser
                ) from None
        if value.__class__ is float and value - value != 0.0:  # NaN or ±inf
            raise ParseFailure.invalid(reading.metric, "value is not a finite number", "finite_number", parser)
        if (
            reading.device.__class__ is not str
            or reading.metric.__class__ is not str
            or reading.unit.__class__ is not str
        ):
            raise ParseFailure(
                base.PARSER_EXCEPTION, f"{reading.metric!r}: device, metric and unit must be text", parser
            )
        if not reading.metric or len(reading.metric) > MAX_NAME or len(reading.device) > MAX_NAME:
            raise ParseFailure.invalid(
                reading.metric[:MAX_NAME], f"device and metric need 1 to {MAX_NAME} characters", "name_length", parser
            )
        if len(reading.unit) > MAX_UNIT:
            raise ParseFailure.invalid(reading.metric, f"unit longer than {MAX_UNIT} characters", "unit_length", parser)
        if reading.timestamp is None:
            reading.timestamp = received_at
        elif reading.timestamp.__class__ is not datetime and not isinstance(reading.timestamp, datetime):
            raise ParseFailure(base.PARSER_EXCEPTION, f"{reading.metric!r}: timestamp is not a datetime", parser)
    return readings


def _sniff(payload: bytes) -> Any:
    """What recognisers look at: the decoded JSON, or the stripped text; None when there is nothing."""
    if not payload or len(payload) > setting("MQTT_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES):
        return None
    try:
        text = bytes(payload).decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    try:
        return load_json(text)
    except ParseFailure:
        return text


def _matches(pattern: list[str], levels: list[str]) -> bool:
    """MQTT filter matching (MQTT 3.1.1 4.7): "+" one level, "#" the rest including the parent level;
    wildcards at the first level do not match topics starting with "$"."""
    if pattern[0] in ("+", "#") and levels[0].startswith("$"):
        return False
    for index, part in enumerate(pattern):
        if part == "#":
            return True
        if index >= len(levels) or (part != "+" and part != levels[index]):
            return False
    return len(levels) == len(pattern)


def _specificity(topic_filter: str) -> tuple[int, int, int, int]:
    levels = topic_filter.split("/")
    plus = levels.count("+")
    has_hash = levels[-1] == "#"
    return (len(levels) - plus - has_hash, 0 if has_hash else 1, -plus, len(levels))


def _instantiate(cls: Any, source: str) -> Parser:
    problem = _class_problem(cls)
    if problem:
        raise ImproperlyConfigured(f"{source} is not a usable parser: {problem}.")
    try:
        return cls()
    except Exception as exc:
        raise ImproperlyConfigured(f"{source} could not be instantiated: {type(exc).__name__}: {exc}") from exc


def _class_problem(cls: Any) -> str | None:
    if not isinstance(cls, type) or not issubclass(cls, Parser) or cls is Parser:
        return f"{cls!r} is not a subclass of mqtt_app.parsers.Parser"
    if not isinstance(cls.name, str) or not cls.name.strip() or len(cls.name) > MAX_PARSER_NAME:
        return f"its name must be a non-empty string of at most {MAX_PARSER_NAME} characters"
    model = getattr(cls, "payload_model", None)
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        return "payload_model must be a Pydantic model class"
    if isinstance(cls.topic_filters, str) or not isinstance(cls.topic_filters, tuple | list):
        return "topic_filters must be a tuple of MQTT topic filters"
    for topic_filter in cls.topic_filters:
        reason = topic_filter_error(topic_filter)
        if reason:
            return f"topic filter {topic_filter!r}: {reason}"
    if cls.payload_format not in PAYLOAD_FORMATS:
        return f"payload_format must be one of {', '.join(PAYLOAD_FORMATS)}"
    return None


def _load_entries() -> list[tuple[type[Parser], str]]:
    entries = [(import_string(path), f"built-in {path}") for path in BUILTIN_PARSERS]
    paths = getattr(settings, "MQTT_PARSERS", [])
    if isinstance(paths, str) or not isinstance(paths, list | tuple):
        raise ImproperlyConfigured("settings.MQTT_PARSERS must be a list of dotted paths to Parser classes.")
    for index, path in enumerate(paths):
        source = f"settings.MQTT_PARSERS[{index}] {path!r}"
        try:
            entries.append((import_string(path), source))
        except ImportError as exc:
            raise ImproperlyConfigured(f"{source} cannot be imported: {exc}") from exc
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(entry.dist, "name", "unknown distribution")
        source = f"entry point {entry.name!r} ({entry.value}) of {dist}"
        try:
            entries.append((entry.load(), source))
        except Exception as exc:
            raise ImproperlyConfigured(f"{source} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    return entries


_registry: ParserRegistry | None = None
_lock = threading.Lock()


def get_registry() -> ParserRegistry:
    """The registry, built on first use; raises ImproperlyConfigured when the configuration is bad."""
    registry = _registry
    if registry is None:
        registry = _build()
    return registry


def _build() -> ParserRegistry:
    global _registry
    with _lock:
        if _registry is None:
            _registry = ParserRegistry(_load_entries())
        return _registry


def reset() -> None:
    """Forget the registry (tests, and when settings.MQTT_PARSERS changes); the next use rebuilds it."""
    global _registry
    with _lock:
        _registry = None


def check_registry() -> ParserRegistry:
    """Build the registry now, for a start-up check: raises ImproperlyConfigured on bad configuration."""
    return get_registry()


@receiver(setting_changed)
def _reset_on_setting_change(setting: str, **kwargs: Any) -> None:
    if setting.startswith("MQTT_"):
        clear_setting_cache()
    if setting == "MQTT_PARSERS":
        reset()
