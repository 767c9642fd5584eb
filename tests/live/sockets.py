"""A logged-in WebSocket client for tests against a real ASGI server (websocket-client, synchronous)."""

from __future__ import annotations

import json
import time

import websocket

from tests.helpers import session_cookie


def open_socket(server_url: str, user, timeout: float = 10.0) -> websocket.WebSocket:  # noqa: ANN001
    """A socket to /ws/events/ of `server_url`, logged in as `user`, its snapshot read up to `ready`."""
    ws_url = server_url.replace("http://", "ws://", 1) + "/ws/events/"
    ws = websocket.create_connection(
        ws_url, header=[f"Cookie: sessionid={session_cookie(user)}"], origin=server_url, timeout=timeout
    )
    while receive(ws)["type"] != "ready":
        pass
    return ws


def receive(ws: websocket.WebSocket) -> dict:
    opcode, data = ws.recv_data()
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
        raise AssertionError(f"the server closed the socket with {code}")
    return json.loads(data)


def send(ws: websocket.WebSocket, message: dict) -> None:
    ws.send(json.dumps(message))


def stay_idle(ws: websocket.WebSocket, seconds: float) -> list[dict]:
    """Read for `seconds`: the messages that came meanwhile (a close fails the test at once). Pings (daphne
    sends one every 20 s) are answered and read past."""
    deadline = time.monotonic() + seconds
    messages = []
    while (left := deadline - time.monotonic()) > 0:
        ws.settimeout(left)
        try:
            opcode, frame = ws.recv_data_frame(control_frame=True)
        except websocket.WebSocketTimeoutException:
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
            raise AssertionError(f"the server closed the socket with {code} after {seconds - left:.1f} s")
        if opcode == websocket.ABNF.OPCODE_TEXT:
            messages.append(json.loads(frame.data))
    return messages
