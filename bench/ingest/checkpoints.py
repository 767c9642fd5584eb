"""PostgreSQL checkpoints in the ingestion benchmark: how many fell in a phase, and the server's settings.

A checkpoint's final fsync of the data files holds back the commits waiting for their WAL fsync (measured
here: 250-400 ms with the sessions' backend_flush_after off, 150-180 ms with DB_BACKEND_FLUSH_AFTER's 256 kB),
so a half phase's p99 depends on whether one fell in it. `checkpoint_settings` and
`checkpoint_note` take any DB-API cursor: `python -m bench.ingest_runs` uses them without Django.
"""

from __future__ import annotations

from typing import Any

# The PostgreSQL settings for a high-rate site (docs/tuning.md): with the default
# max_wal_size of 1 GB this pipeline's WAL brings a checkpoint every 15-30 s at its maximum, and each one's
# final fsync stalls commits (above); a half phase's p99 then measures such a stall.
HIGH_RATE_MAX_WAL_MB, HIGH_RATE_CHECKPOINT_TIMEOUT_S = 8192, 900


def checkpoint_settings(cursor: Any) -> dict[str, int]:  # noqa: ANN401 - any DB-API cursor on PostgreSQL
    """The server's max_wal_size (MB) and checkpoint_timeout (s)."""
    cursor.execute("SELECT name, setting FROM pg_settings WHERE name IN ('max_wal_size', 'checkpoint_timeout')")
    found = {name: int(value) for name, value in cursor.fetchall()}
    return {"max_wal_size_mb": found["max_wal_size"], "checkpoint_timeout_s": found["checkpoint_timeout"]}


def checkpoint_note(settings: dict[str, int]) -> str:
    """One line for the output: the server's checkpoint settings, and whether they are the high-rate ones."""
    wal, timeout = settings["max_wal_size_mb"], settings["checkpoint_timeout_s"]
    line = f"PostgreSQL: max_wal_size {wal:,} MB, checkpoint_timeout {timeout:,} s"
    if wal >= HIGH_RATE_MAX_WAL_MB and timeout >= HIGH_RATE_CHECKPOINT_TIMEOUT_S:
        return f"{line} (the settings of docs/tuning.md for a high-rate site)"
    return (
        f"{line}: below the settings of docs/tuning.md for a high-rate site ({HIGH_RATE_MAX_WAL_MB:,} MB, "
        f"{HIGH_RATE_CHECKPOINT_TIMEOUT_S:,} s). Checkpoints may fall in the phases (see their `checkpoints`), "
        "and each one's final fsync stalls commits: a half phase's p99 then measures that stall"
    )


def checkpoints() -> int | None:
    """PostgreSQL checkpoints so far (timed and requested), server-wide, on Django's connection; None on
    SQLite. The benchmark takes the difference over each phase."""
    from django.db import connection as db  # here, not at the top: the rest of this module runs without Django

    if db.vendor != "postgresql":
        return None
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # statistics are otherwise frozen for a transaction
        if db.pg_version >= 170000:  # PostgreSQL 17 moved the counters to pg_stat_checkpointer
            cursor.execute("SELECT num_timed + num_requested FROM pg_stat_checkpointer")
        else:
            cursor.execute("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
        return int(cursor.fetchone()[0])
