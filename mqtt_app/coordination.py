"""The listeners' coordination state in Redis, shared by listeners, reconciliation, health and metrics: the one
place that names its keys.

P = settings.REDIS_KEY_PREFIX
- `P:listener:<id>`         JSON heartbeat of a live listener, expires after MQTT_LISTENER_TTL seconds;
- `P:assignments`           hash connection_id -> listener_id (written by reconciliation only);
- `P:assignments:changed`   pub/sub channel: a listener id (or "*") whose assignment changed;
- `P:reconcile:lock`        the reconcile lock (a TTL so a crashed reconciler never blocks the others);
- `P:reconcile:last`        epoch seconds of the last finished reconcile (for /api/health);
- `P:reconcile:summary`     JSON summary of it, with `seconds` (duration) and `at`;
- `P:failover:<ids>`        short-lived claim: one live listener asks for a reconcile when peers died.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis as redis_lib
from django.conf import settings

logger = logging.getLogger(__name__)

ALL_LISTENERS = "*"


def _prefix() -> str:
    return settings.REDIS_KEY_PREFIX


def listener_key(listener_id: str) -> str:
    return f"{_prefix()}:listener:{listener_id}"


def assignments_key() -> str:
    return f"{_prefix()}:assignments"


def changed_channel() -> str:
    return f"{_prefix()}:assignments:changed"


def publish_key(listener_id: str) -> str:
    """The messages a listener is asked to publish (Sparkplug B rebirth commands), oldest first."""
    return f"{_prefix()}:publish:{listener_id}"  # not under listener:*, which is scanned for heartbeats


def lock_key() -> str:
    return f"{_prefix()}:reconcile:lock"


def last_reconcile_key() -> str:
    return f"{_prefix()}:reconcile:last"


def reconcile_summary_key() -> str:
    return f"{_prefix()}:reconcile:summary"


def connect(url: str | None = None, *, timeout: float = 2.0) -> redis_lib.Redis:
    """A Redis client with short timeouts: a listener must notice an unreachable Redis quickly."""
    return redis_lib.Redis.from_url(
        url or settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
    )


# --- heartbeats -------------------------------------------------------------------------------------
def write_heartbeat(client: redis_lib.Redis, listener_id: str, payload: dict[str, Any]) -> None:
    ttl_ms = int(float(settings.MQTT_LISTENER_TTL) * 1000)
    body = {**payload, "id": listener_id, "at": time.time()}
    client.set(listener_key(listener_id), json.dumps(body), px=ttl_ms)


def remove_heartbeat(client: redis_lib.Redis, listener_id: str) -> None:
    client.delete(listener_key(listener_id))


def live_listeners(client: redis_lib.Redis) -> dict[str, dict[str, Any]]:
    """Every listener whose heartbeat has not expired: id -> its last heartbeat."""
    keys = list(client.scan_iter(match=listener_key("*"), count=500))
    if not keys:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for raw in client.mget(keys):
        if raw is None:  # expired between SCAN and MGET
            continue
        try:
            beat = json.loads(raw)
            found[str(beat["id"])] = beat
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed listener heartbeat")
    return found


def live_listener_ids(client: redis_lib.Redis) -> set[str]:
    """Ids of the live listeners, from key names only (cheaper than reading every heartbeat)."""
    cut = len(listener_key(""))
    return {key.decode()[cut:] for key in client.scan_iter(match=listener_key("*"), count=500)}


def claim_failover(client: redis_lib.Redis, dead: set[str], ttl: float) -> bool:
    """True for the one caller that should ask for a reconcile because these listeners died."""
    key = f"{_prefix()}:failover:{','.join(sorted(dead))}"
    return bool(client.set(key, "1", nx=True, px=int(ttl * 1000)))


# --- assignments ------------------------------------------------------------------------------------
def read_assignments(client: redis_lib.Redis) -> dict[int, str]:
    return {int(k): v.decode() if isinstance(v, bytes) else v for k, v in client.hgetall(assignments_key()).items()}


def assigned_to(client: redis_lib.Redis, listener_id: str) -> set[int]:
    return {cid for cid, owner in read_assignments(client).items() if owner == listener_id}


def write_assignments(client: redis_lib.Redis, assign: dict[int, str], unassign: set[int]) -> None:
    """Apply a reconcile's changes in one transaction, then tell the listeners concerned."""
    pipe = client.pipeline(transaction=True)
    if assign:
        pipe.hset(assignments_key(), mapping={str(k): v for k, v in assign.items()})
    if unassign:
        pipe.hdel(assignments_key(), *[str(k) for k in unassign])
    pipe.execute()


def notify(client: redis_lib.Redis, listener_ids: set[str] | None = None) -> None:
    """Tell listeners their assignment changed (they also re-read it on every heartbeat)."""
    for listener_id in sorted(listener_ids or {ALL_LISTENERS}):
        client.publish(changed_channel(), listener_id)


# --- reconcile bookkeeping --------------------------------------------------------------------------
def record_reconcile(client: redis_lib.Redis, summary: dict[str, Any]) -> None:
    at = time.time()
    pipe = client.pipeline(transaction=True)
    pipe.set(last_reconcile_key(), repr(at))
    pipe.set(reconcile_summary_key(), json.dumps({**summary, "at": at}))
    pipe.execute()


def last_reconcile(client: redis_lib.Redis) -> dict[str, Any] | None:
    """The last reconcile's summary with `at` (epoch seconds), or None if none ran yet."""
    raw = client.get(reconcile_summary_key())
    return json.loads(raw) if raw else None
