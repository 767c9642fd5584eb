"""A listener process that queues batches and dies before writing any PUBACK: it never writes one (run as
`python -m tests.lifecycle.listener_without_acks --id L1`, with the environment of a test's listener)."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from mqtt_app.listener.service import ListenerService

    ListenerService._send_acks = lambda self, acks: None  # the window between the queue and the PUBACKs, held open
    call_command("mqtt_listener", *sys.argv[1:])
