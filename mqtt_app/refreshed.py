"""A value a process reads from the database again at most every few seconds (which rules or settings concern
ingestion): one reader at a time, the others keep the value they have meanwhile."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Refreshed(Generic[T]):
    def __init__(self, load: Callable[[], T], seconds: float, empty: T) -> None:
        self.load = load
        self.seconds = seconds
        self.value = empty
        self.read_at = -math.inf
        self.lock = threading.Lock()

    def get(self, now: float | None = None) -> T:
        """The value, read again first when it is older than `seconds` (`now`: time.monotonic())."""
        now = time.monotonic() if now is None else now
        if now - self.read_at >= self.seconds:
            with self.lock:
                if now - self.read_at >= self.seconds:
                    self.value = self.load()
                    self.read_at = now
        return self.value

    def forget(self) -> None:
        """Read again at the next `get` (a setting changed in this process, or a test starts)."""
        self.read_at = -math.inf
