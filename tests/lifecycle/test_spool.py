"""The listener's spool: batches the queue cannot take wait on disk, in order, and survive a restart."""

from __future__ import annotations

import uuid

from mqtt_app.listener.spool import HEADER, Spool


def batch(n: int) -> dict:
    return {"id": str(uuid.uuid4()), "n": n, "parts": [{"payloads": [b"\x00\xff" * n]}]}


def drain(spool: Spool) -> list[int]:
    seen = []
    while (item := spool.peek()) is not None:
        body, end = item
        seen.append(body["n"])
        spool.consumed(end)
    return seen


def test_batches_come_back_in_order_with_their_bytes_and_the_file_is_emptied(tmp_path):
    spool = Spool(tmp_path, 1 << 20)
    for n in range(5):
        assert spool.append(batch(n))

    first = spool.peek()
    assert first is not None and first[0]["parts"][0]["payloads"] == [b""]
    assert drain(spool) == [0, 1, 2, 3, 4]
    assert spool.pending == 0 and spool.path.stat().st_size == 0


def test_a_restarted_listener_takes_over_the_spool_and_skips_what_was_replayed(tmp_path):
    spool = Spool(tmp_path, 1 << 20)
    for n in range(4):
        spool.append(batch(n))
    body, end = spool.peek()
    spool.consumed(end)  # one replayed, then the process dies
    spool.close()

    again = Spool(tmp_path, 1 << 20)

    assert again.slot == spool.slot and again.pending == 3
    assert drain(again) == [1, 2, 3]


def test_two_listeners_on_one_machine_hold_two_spools(tmp_path):
    one, two = Spool(tmp_path, 1 << 20), Spool(tmp_path, 1 << 20)

    assert one.path != two.path


def test_a_torn_last_record_is_cut_off_and_later_batches_follow_the_last_whole_one(tmp_path):
    spool = Spool(tmp_path, 1 << 20)
    spool.append(batch(1))
    spool.close()
    with open(spool.path, "ab") as handle:  # a crash in the middle of an append (never acknowledged)
        handle.write(HEADER.pack(1000, 0) + b"half")

    again = Spool(tmp_path, 1 << 20)
    again.append(batch(2))

    assert drain(again) == [1, 2]


def test_a_full_spool_takes_nothing_more(tmp_path):
    spool = Spool(tmp_path, 400)
    taken = [spool.append(batch(50)) for _ in range(5)]

    assert taken[0] and not all(taken)
    assert spool.size <= 400
