"""The listener's durable spool: batches it could not hand to the queue, on local disk, replayed in order.

While the queue's Redis (or RabbitMQ) is unreachable, or the ingest queue is over its bound, the batcher appends
each batch here and fsyncs before it acknowledges the batch's messages to their brokers: a site's broker then
keeps nothing for us (most keep only 1,000 unacknowledged messages a client and drop the rest). Once the queue
takes batches again, the spool is replayed oldest first, before any new batch. A batch keeps its id, so a
replay repeated after a crash stores nothing twice (the worker's IngestBatch claims).

Each listener process holds one spool, chosen by an exclusive lock on `spool-N.lock` (the lowest N free) in
MQTT_SPOOL_DIR, so several listeners on one machine never share one, and a restarted listener takes over the
spool its predecessor left and replays it. Records: 4-byte length, 4-byte CRC32, msgpack body. A record torn by
a crash was never acknowledged (fsync comes first), so its messages are redelivered by their broker: it is
skipped.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import msgpack

logger = logging.getLogger(__name__)

HEADER = struct.Struct(">II")  # length, crc32 of the body


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file, self.slot = _lock_a_slot(self.directory)
        self.path = self.directory / f"spool-{self.slot}.bin"
        self.offset_path = self.directory / f"spool-{self.slot}.offset"
        self.file = open(self.path, "ab+")  # noqa: SIM115 - open for the process's life
        self.size = self.file.seek(0, os.SEEK_END)
        self.read_offset = self._read_offset()
        self.pending = self._count_pending()
        if self.pending:
            logger.warning("spool %s holds %d batches from before: they are sent first", self.path, self.pending)

    # --- writing ------------------------------------------------------------------------------------
    def room_for(self, size: int) -> bool:
        return self.size + HEADER.size + size <= self.max_bytes

    def append(self, batch: dict) -> bool:
        """Write and fsync one batch; False (nothing written) when the spool is full."""
        body = msgpack.packb(batch, use_bin_type=True)
        if not self.room_for(len(body)):
            return False
        self.file.seek(0, os.SEEK_END)
        self.file.write(HEADER.pack(len(body), zlib.crc32(body)) + body)
        self.file.flush()
        os.fsync(self.file.fileno())
        self.size += HEADER.size + len(body)
        self.pending += 1
        return True

    # --- replaying ----------------------------------------------------------------------------------
    def peek(self) -> tuple[dict, int] | None:
        """The oldest batch not yet replayed, and the offset after it; None when there is none."""
        while self.read_offset < self.size:
            self.file.seek(self.read_offset)
            header = self.file.read(HEADER.size)
            if len(header) < HEADER.size:
                break
            length, crc = HEADER.unpack(header)
            body = self.file.read(length)
            end = self.read_offset + HEADER.size + length
            if len(body) < length or zlib.crc32(body) != crc:
                logger.warning("spool %s: a torn record at %d is skipped (never acknowledged)", self.path, end)
                break
            try:
                return msgpack.unpackb(body, raw=False), end
            except (ValueError, msgpack.UnpackException):
                self.consumed(end)  # unreadable: never acknowledged either
        self._reset()
        return None

    def consumed(self, offset: int) -> None:
        """The batch before `offset` is in the queue: remember it, and empty the file once all are."""
        self.read_offset = offset
        self.pending = max(0, self.pending - 1)
        if self.read_offset >= self.size:
            self._reset()
        else:
            self.offset_path.write_text(str(offset))

    def _reset(self) -> None:
        self.file.truncate(0)
        self.file.flush()
        os.fsync(self.file.fileno())
        self.size = self.read_offset = self.pending = 0
        self.offset_path.unlink(missing_ok=True)

    def _read_offset(self) -> int:
        try:
            return min(int(self.offset_path.read_text()), self.size)
        except (OSError, ValueError):
            return 0

    def _count_pending(self) -> int:
        """Count the whole records after the replay offset; cut a torn tail off (a crash mid-append: never
        acknowledged), so batches appended from now on follow the last whole record."""
        count, offset = 0, self.read_offset
        while offset + HEADER.size <= self.size:
            self.file.seek(offset)
            length, crc = HEADER.unpack(self.file.read(HEADER.size))
            body = self.file.read(length)
            if len(body) < length or zlib.crc32(body) != crc:
                break
            offset += HEADER.size + length
            count += 1
        if offset < self.size:
            logger.warning("spool %s: a torn record at %d cut off (never acknowledged)", self.path, offset)
            self.file.truncate(offset)
            self.size = offset
        return count

    def close(self) -> None:
        self.file.close()
        self._lock_file.close()


def _lock_a_slot(directory: Path) -> tuple[Any, int]:
    for slot in range(1000):
        handle = open(directory / f"spool-{slot}.lock", "a")  # noqa: SIM115 - held while the process lives
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return handle, slot
    raise RuntimeError(f"no free spool slot in {directory}")
