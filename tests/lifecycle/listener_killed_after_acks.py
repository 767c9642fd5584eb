"""A listener process that dies right after writing a batch's PUBACKs, before the site's broker has read them
(run as `python -m tests.lifecycle.listener_killed_after_acks --id L1`, with the environment of a test's listener).

Once KILL_AFTER_ACKS messages were acknowledged (and, unless HOLD_RECORDS=false, the connection's packet ids are
counted, so the batch's records are held past its PUBACKs), the next batch's PUBACKs are written while the broker
(BROKER_PID) is stopped with SIGSTOP, and the process SIGKILLs itself with its sockets set to close with a reset:
the PUBACKs wait unread in the broker's socket when the reset comes, as when a busy broker has not read them yet.
KILL_MARKER is written just before the kill. HOLD_RECORDS=false: records released before the PUBACKs, as before."""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from mqtt_app.listener.client import ConnectionClient
    from mqtt_app.listener.service import ListenerService

    kill_after = int(os.environ["KILL_AFTER_ACKS"])
    hold = os.environ.get("HOLD_RECORDS", "true") == "true"
    if not hold:
        ConnectionClient.can_hold = lambda self, generation: False
    send_acks = ListenerService._send_acks
    acked = [0]

    def send_then_die(self: ListenerService, acks) -> None:  # noqa: ANN001
        ready = acked[0] >= kill_after and acks.recorded
        if ready and (not hold or all(client.ids_counted for client in self.clients.values())):
            os.kill(int(os.environ["BROKER_PID"]), signal.SIGSTOP)
            for client in self.clients.values():
                client.paho.socket().setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            send_acks(self, acks)
            with open(os.environ["KILL_MARKER"], "w") as marker:
                marker.write(f"{acked[0]} {sum(len(c.held) for c in self.clients.values())}")
            os.kill(os.getpid(), signal.SIGKILL)
        send_acks(self, acks)
        acked[0] += sum(len(mids) for _, _, _, mids in acks)

    ListenerService._send_acks = send_then_die
    call_command("mqtt_listener", *sys.argv[1:])
