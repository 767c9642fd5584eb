"""Parsers that exist only for tests, loaded through settings.MQTT_PARSERS like a project's own."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel

from mqtt_app.parsers import Parser, Reading


class Text(BaseModel):
    text: str


class TextParser(Parser):
    """The payload as text: subclasses say which topics and what a text becomes."""

    payload_model = Text
    payload_format = "text"

    def load(self, text: str) -> dict[str, str]:
        return {"text": text}


class ExplodingParser(TextParser):
    """Claims `explode/#`; a payload of "boom" makes it raise like a buggy parser would."""

    name = "test_exploding"
    description = "Raises on 'boom'."
    topic_filters = ("explode/#",)

    def parse(self, topic: str, payload: Text) -> list[Reading]:
        if payload.text == "boom":
            raise RuntimeError("kaboom")
        return [Reading("device", "length", float(len(payload.text)))]


class StallingParser(TextParser):
    """Claims `stall/#`: the number in the payload is the reading. The payload "-1" stalls the worker for a
    minute the first time it is seen (a marker file says so), so a test can kill the worker mid-batch."""

    name = "test_stalling"
    description = "Stalls once on -1."
    topic_filters = ("stall/#",)

    def parse(self, topic: str, payload: Text) -> list[Reading]:
        marker = Path(os.environ.get("INGEST_TEST_MARKER", "/nonexistent/marker"))
        if payload.text == "-1" and marker.parent.exists() and not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(60)
        return [Reading("device", "n", float(payload.text))]


class BadClockParser(TextParser):
    """Claims `badclock/#` and returns a reading whose timestamp is not a time, as a buggy parser might."""

    name = "test_bad_clock"
    description = "Returns a text as the timestamp."
    topic_filters = ("badclock/#",)

    def parse(self, topic: str, payload: Text) -> list[Reading]:
        return [Reading("device", "length", 1.0, timestamp="yesterday")]  # type: ignore[arg-type]
