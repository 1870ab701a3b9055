"""SlotGroup: the multi-camera worker's batch taking (no ROS needed)."""

from __future__ import annotations

import threading
import time
from collections import Counter

from mtl_perception.ros.frame_slot import SlotGroup


def test_takes_at_most_one_newest_item_per_camera() -> None:
    group: SlotGroup[str] = SlotGroup(3)
    group.slots[0].put("a1")
    group.slots[0].put("a2")  # replaces a1: a drop for camera 0 only
    group.slots[2].put("c1")
    assert group.take_batch(limit=8, timeout=0) == [(0, "a2"), (2, "c1")]
    assert [s.dropped for s in group.slots] == [1, 0, 0]
    assert group.take_batch(limit=8, timeout=0) == []


def test_round_robin_under_overload_serves_every_camera_equally() -> None:
    group: SlotGroup[int] = SlotGroup(3)
    served: Counter[int] = Counter()
    for frame in range(300):
        for slot in group.slots:  # every camera always has a frame waiting
            slot.put(frame)
        for index, _ in group.take_batch(limit=1, timeout=0):  # a fixed-batch model
            served[index] += 1
    assert set(served.values()) == {100}
    group2: SlotGroup[int] = SlotGroup(3)
    for slot in group2.slots:
        slot.put(1)
    assert [i for i, _ in group2.take_batch(limit=2, timeout=0)] == [0, 1]
    for slot in group2.slots:
        slot.put(2)
    assert [i for i, _ in group2.take_batch(limit=2, timeout=0)] == [2, 0]


def test_waiting_worker_wakes_on_any_camera_and_close() -> None:
    group: SlotGroup[str] = SlotGroup(2)
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(group.take_batch(2, timeout=5.0)))
    worker.start()
    deadline = time.monotonic() + 5.0
    while not group.slots[1].taker_waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    assert group.slots[0].taker_waiting, "every slot reports the group's idle worker"
    group.slots[1].put("b")
    worker.join(timeout=5.0)
    assert got == [[(1, "b")]]
    group.slots[0].put("a")
    group.clear()
    assert group.take_batch(2, timeout=0) == [] and group.slots[0].dropped == 0
    group.close()
    started = time.monotonic()
    assert group.take_batch(2, timeout=5.0) == []
    assert time.monotonic() - started < 1.0


def test_held_slots_are_skipped_until_released() -> None:
    """Two takers never work on one camera's frames at once (its outputs stay in order)."""
    group: SlotGroup[str] = SlotGroup(2)
    group.slots[0].put("a1")
    group.slots[1].put("b1")
    assert group.take_batch(limit=1, timeout=0, hold=True) == [(0, "a1")]
    group.slots[0].put("a2")  # camera 0's next frame, while a1 is still being worked on
    assert group.take_batch(limit=2, timeout=0, hold=True) == [(1, "b1")]
    assert group.take_batch(limit=2, timeout=0, hold=True) == []  # a2 waits for a1
    group.release([0])
    assert group.take_batch(limit=2, timeout=0, hold=True) == [(0, "a2")]
