"""The latest-frame slot: never blocks the producer, keeps only the newest, counts drops."""

from __future__ import annotations

import threading
import time

from mtl_perception.ros.frame_slot import LatestFrameSlot


def test_newest_wins_and_drops_are_counted() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.take(timeout=0.1) == 3
    assert slot.dropped == 2
    assert slot.take(timeout=0.05) is None, "no backlog: the slot is empty after a take"


def test_take_wakes_on_put_and_close() -> None:
    slot: LatestFrameSlot[str] = LatestFrameSlot()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(slot.take(timeout=5.0)))
    worker.start()
    time.sleep(0.05)
    slot.put("frame")
    worker.join(timeout=1.0)
    assert got == ["frame"]
    worker = threading.Thread(target=lambda: got.append(slot.take(timeout=5.0)))
    worker.start()
    slot.close()
    worker.join(timeout=1.0)
    assert not worker.is_alive() and got[-1] is None


def test_taker_waiting_is_true_only_while_a_take_is_blocked() -> None:
    slot: LatestFrameSlot[int] = LatestFrameSlot()
    assert not slot.taker_waiting
    got: list[int | None] = []
    worker = threading.Thread(target=lambda: got.append(slot.take(timeout=5.0)))
    worker.start()
    deadline = time.monotonic() + 2.0
    while not slot.taker_waiting and time.monotonic() < deadline:
        time.sleep(0.005)
    assert slot.taker_waiting, "the idle worker is visible to the producer"
    slot.put(7)
    worker.join(timeout=1.0)
    assert got == [7] and not slot.taker_waiting
    assert slot.take(timeout=0.01) is None and not slot.taker_waiting  # timeout path resets too
