"""One selector loop that drives every paho client of a listener.

paho's own `loop_start()` costs a thread per connection (a thousand threads for a thousand sites); here one
thread waits on all the sockets with epoll and calls `read_ready`/`loop_write` on the ones that are ready,
and `loop_misc` (keepalive pings) once a second. Other threads never touch the selector: they hand work
to the loop with `call_soon_threadsafe`, which wakes it through a socket pair.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

logger = logging.getLogger(__name__)
PAUSE_POLL = 0.005  # seconds between looks at a full buffer


class Reactor:
    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pending: deque[Callable[[], None]] = deque()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._again: list[Any] = []
        self.thread_id = threading.get_ident()
        self.iterations = 0  # in the heartbeat: an idle loop that spins shows up here
        # True while the batcher's buffer is full: sockets are not read (TCP back-pressure on the brokers), but
        # acks are still written and timers run, so the batches that leave make room again.
        self.paused: Callable[[], bool] = lambda: False

    # --- scheduling -------------------------------------------------------------------------------
    def in_loop(self) -> bool:
        return threading.get_ident() == self.thread_id

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        self._pending.append(fn)
        self.wake()

    def wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except BlockingIOError:
            pass  # already awake: the pipe is full of wake-ups
        except OSError:
            pass  # closed: the loop has ended (a client collected later still reports its socket)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Loop thread only."""
        heapq.heappush(self._timers, (time.monotonic() + max(0.0, delay), next(self._seq), fn))

    # --- sockets ------------------------------------------------------------------------------------
    def register(self, sock: Any, owner: Any, write: bool = False) -> None:  # noqa: ANN401
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if write else 0)
        try:
            self.selector.register(sock, events, owner)
        except (KeyError, ValueError, OSError):
            logger.debug("socket already registered or closed", exc_info=True)

    def unregister(self, sock: Any) -> None:  # noqa: ANN401
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass

    def set_write(self, sock: Any, wanted: bool) -> None:  # noqa: ANN401
        try:
            key = self.selector.get_key(sock)
        except (KeyError, ValueError):
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
        if key.events != events:
            try:
                self.selector.modify(sock, events, key.data)
            except OSError:
                logger.debug("socket closed before its events changed", exc_info=True)

    def socket_count(self) -> int:
        return len(self.selector.get_map()) - 1

    # --- running ------------------------------------------------------------------------------------
    def run_once(self, max_wait: float = 1.0) -> None:
        paused = self.paused()
        if paused:
            time.sleep(PAUSE_POLL)  # readable sockets would wake a level-triggered select at once
        timeout = 0.0 if paused or self._pending or self._again else self._next_timer(max_wait)
        ready = self.selector.select(timeout)
        self.iterations += 1
        if not paused:
            again, self._again = self._again, []
            for owner in again:
                self._read(owner)
        for key, mask in ready:
            if key.data is None:
                self._drain_wake()
                continue
            if mask & selectors.EVENT_READ and not paused:
                self._read(key.data)
            if mask & selectors.EVENT_WRITE:
                self._guard(key.data.paho.loop_write)
        self._run_pending()
        self._run_timers()

    def _next_timer(self, max_wait: float) -> float:
        if not self._timers:
            return max_wait
        return min(max_wait, max(0.0, self._timers[0][0] - time.monotonic()))

    def _read(self, owner: Any) -> None:  # noqa: ANN401
        """Read and handle what the socket holds, up to the reader's byte budget (see reader.py)."""
        client = owner.paho
        if client.socket() is None:
            return
        try:
            rc = client.read_ready()
        except Exception:  # noqa: BLE001 - one bad packet/callback must not stop every connection
            logger.exception("error reading from connection %s", getattr(owner, "spec", owner))
            return
        if rc == mqtt.MQTT_ERR_AGAIN:
            return
        if rc > 0:
            self._guard(lambda: client._loop_rc_handle(rc))  # noqa: SLF001
            return
        self._again.append(owner)  # budget spent: more may wait (even in an SSL buffer epoll can't see)

    def _guard(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - logged; the loop serves every other connection
            logger.exception("error in the listener loop")

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _run_pending(self) -> None:
        for _ in range(len(self._pending)):
            self._guard(self._pending.popleft())

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            self._guard(fn)

    def close(self) -> None:
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()
