"""Settings for the benchmark's child processes: the project's settings plus the high-rate broker profile.

The benchmark's broker allows 1,000 in-flight QoS 1 messages per client (Mosquitto's default is 20), so the
listener may leave up to that many unacknowledged before it must flush a batch (MQTT_ACK_WINDOW; the
listener's default of 20 matches Mosquitto's default and would cap batches at 20 messages).
"""

from __future__ import annotations

import os

from project.settings import *  # noqa: F403

MQTT_ACK_WINDOW = int(os.environ.get("MQTT_ACK_WINDOW", "1000"))
# Ten connections may each have a full window in the listener at once (a burst at a phase's start): a buffer
# smaller than that would take the burst for a Redis outage (drop, reconnect, redelivery: duplicates).
MQTT_LISTENER_MAX_BUFFER = int(os.environ.get("MQTT_LISTENER_MAX_BUFFER", str(max(20_000, 20 * MQTT_ACK_WINDOW))))

# Celery's Django fixup closes the database connection before and after every task unless this is set: a
# new PostgreSQL connection (and server backend) per batch.
CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "1000"))

# Figures for production: DEBUG on wraps every query in Django's recording cursor (CPU and memory per query).
DEBUG = False
FLOWER_BASIC_AUTH = os.environ.get("FLOWER_BASIC_AUTH") or "bench:no-flower-runs-here"  # a DEBUG-off check wants it

# Each stored batch's milestones (mqtt_app.ingest.service.log_timing), into the file the benchmark names: it
# reports a phase's batches by stage (run.py: batch_stages). Only in the benchmark's worker.
TIMING_LOG = os.environ.get("MQTT_BENCH_TIMING_LOG")
if TIMING_LOG:
    LOGGING = {  # noqa: F405 - project.settings' LOGGING, with one more handler and logger
        **LOGGING,  # noqa: F405
        "handlers": {
            **LOGGING["handlers"],  # noqa: F405
            "bench_timing": {"class": "logging.FileHandler", "filename": TIMING_LOG, "level": "DEBUG"},
        },
        "loggers": {
            **LOGGING["loggers"],  # noqa: F405
            "mqtt_app.ingest.timing": {"handlers": ["bench_timing"], "level": "DEBUG", "propagate": False},
        },
    }
