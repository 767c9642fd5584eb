"""A cheap steady-rate QoS 1 publisher: `python -m bench.ingest.publisher --port P --rate R ...`.

Why not paho: a Python paho publisher costs ~65 µs of CPU per QoS 1 message and would be the benchmark's
limit. This one pre-encodes every PUBLISH packet before the clock starts, then writes them in time-sliced
chunks on one socket and counts PUBACKs: a few µs per message. It prints one JSON line: messages sent,
PUBACKs received, the send time of every latency probe, and its own CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import time

from .mix import PROBE_TOPIC, message

TICK = 0.002  # seconds between chunks: small enough that a chunk is a sliver of a batch


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str) -> bytes:
    body = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0) + _string(client_id)  # clean, no keepalive
    return b"\x10" + _length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    body = _string(topic) + struct.pack("!H", packet_id) + payload
    return b"\x32" + _length(len(body)) + body  # PUBLISH, QoS 1


def build(start_seq: int, count: int, probe_every: int, probe_start: int) -> tuple[list[bytes], dict[int, int]]:
    """The packets, and index -> probe number for the probes among them."""
    packets, probes = [], {}
    for index in range(count):
        if probe_every and index % probe_every == 0:
            number = probe_start + len(probes)
            probes[index] = number
            topic, payload = PROBE_TOPIC, str(number).encode()
        else:
            topic, payload = message(start_seq + index)
        packets.append(publish_packet(topic, payload, index % 65535 + 1))
    return packets, probes


def run(args: argparse.Namespace) -> dict:
    packets, probes = build(args.start_seq, args.count, args.probe_every, args.probe_start)
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.sendall(connect_packet(args.client_id))
    if len(sock.recv(4)) != 4:
        raise SystemExit("no CONNACK")
    sock.setblocking(False)
    acked_bytes, sent, probe_times = 0, 0, {}
    start = time.monotonic()
    while sent < len(packets):
        due = min(len(packets), int((time.monotonic() - start) * args.rate) + 1)
        if due > sent:
            now = time.time()
            probe_times.update({probes[i]: now for i in range(sent, due) if i in probes})
            sock.setblocking(True)
            sock.sendall(b"".join(packets[sent:due]))
            sock.setblocking(False)
            sent = due
        acked_bytes += _drain(sock)
        time.sleep(TICK)
    deadline = time.monotonic() + 30
    while acked_bytes < 4 * sent and time.monotonic() < deadline:
        acked_bytes += _drain(sock)
        time.sleep(TICK)
    return {
        "sent": sent,
        "acked": acked_bytes // 4,
        "seconds": time.monotonic() - start,
        "probes": probe_times,
        "cpu": time.process_time(),
    }


def _drain(sock: socket.socket) -> int:
    total = 0
    try:
        while chunk := sock.recv(1 << 16):
            total += len(chunk)
    except BlockingIOError:
        pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    for name, kind in (
        ("--port", int),
        ("--rate", float),
        ("--count", int),
        ("--start-seq", int),
        ("--probe-every", int),
        ("--probe-start", int),
        ("--client-id", str),
    ):
        parser.add_argument(name, type=kind, required=True)
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
