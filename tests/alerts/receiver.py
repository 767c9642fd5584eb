"""A local HTTP server standing in for a webhook receiver (or Sentry): it records every request it gets."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes
    method: str = "POST"

    def json(self) -> Any:  # noqa: ANN401
        return json.loads(self.raw)


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give first, in order; then 200
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> list[Received]:  # noqa: ANN401
        """Block until predicate(requests) holds (woken by each request), or fail after `timeout`."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: predicate(self.requests), timeout=timeout):
                raise AssertionError(f"the receiver got {[r.raw[:200] for r in self.requests]}")
            return list(self.requests)

    def bodies(self) -> list[Any]:
        return [request.json() for request in self.requests]


def start_receiver() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with receiver.arrived:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), raw, self.command))
                receiver.arrived.notify_all()

        do_PUT = do_POST  # noqa: N815 - Sentry's API mutates issues with PUT

        def log_message(self, *args: Any) -> None:  # noqa: ANN401
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
