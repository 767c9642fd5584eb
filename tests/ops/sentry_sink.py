"""A local stand-in for Sentry's ingestion endpoint: it stores every envelope it receives (gzip or plain)."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SentrySink:
    def __init__(self) -> None:
        self.raw: list[str] = []
        self.items: list[tuple[dict[str, Any], Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                sink._store(body.decode("utf-8", errors="replace"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.server.server_address[1]}/1"

    def start(self) -> SentrySink:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _store(self, text: str) -> None:
        lines = text.split("\n")
        parsed = []
        # Envelope: a header line, then (item header, payload) line pairs.
        for header_line, payload_line in zip(lines[1::2], lines[2::2], strict=False):
            if not header_line.strip():
                continue
            header = json.loads(header_line)
            try:
                payload = json.loads(payload_line)
            except ValueError:
                payload = payload_line
            parsed.append((header, payload))
        with self._lock:
            self.raw.append(text)
            self.items.extend(parsed)

    def events(self, kind: str = "event") -> list[dict[str, Any]]:
        with self._lock:
            return [payload for header, payload in self.items if header.get("type") == kind]

    def all_text(self) -> str:
        with self._lock:
            return "\n".join(self.raw)
