"""One-frame mailboxes between the subscription callbacks and the inference worker.

The callback never waits for inference: putting a frame replaces any frame still waiting
(counted as dropped), so a slow model yields fewer outputs, never older ones.
:attr:`LatestFrameSlot.taker_waiting` tells the callback whether the worker is idle, which
the node uses for its hand-off (see ``CameraStream.accept``).

Several cameras: a :class:`SlotGroup` holds one slot per camera under one lock, so one
worker waits for a frame from any camera and takes the waiting frames as one batch, in
round-robin order from the camera after the last one served (no camera can starve).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """Holds at most one item; ``put`` never blocks, ``take`` waits for the newest item."""

    def __init__(self, group: SlotGroup[T] | None = None) -> None:
        self._group = group
        self._cond = group.cond if group is not None else threading.Condition()
        self._item: T | None = None
        self._closed = False
        self._waiting = 0
        self.dropped = 0

    @property
    def taker_waiting(self) -> bool:
        """True while the worker is blocked waiting for a frame (the worker is idle)."""
        if self._group is not None:
            return self._group.taker_waiting
        return self._waiting > 0

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when it replaced an unprocessed one (a drop)."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, or None on timeout or after close()."""
        with self._cond:
            if self._item is None and not self._closed:
                self._waiting += 1
                try:
                    self._cond.wait(timeout)
                finally:
                    self._waiting -= 1
            item, self._item = self._item, None
            return None if self._closed else item

    def pop(self) -> T | None:
        """The waiting item or None, without waiting (callers in a group hold its lock)."""
        with self._cond:
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake the worker so it can exit."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class SlotGroup(Generic[T]):
    """``count`` slots sharing one lock; :meth:`take_batch` takes from all of them."""

    def __init__(self, count: int) -> None:
        self.cond = threading.Condition()  # reentrant: a slot's methods can run inside it
        self.slots: list[LatestFrameSlot[T]] = [LatestFrameSlot(self) for _ in range(count)]
        self._next = 0
        self._waiting = 0
        self._closed = False
        self._held: set[int] = set()  # slots whose last frame is still being worked on

    @property
    def taker_waiting(self) -> bool:
        return self._waiting > 0

    def _ready(self) -> bool:
        return any(s._item is not None and i not in self._held
                   for i, s in enumerate(self.slots))

    def take_batch(self, limit: int, timeout: float | None = None,
                   hold: bool = False) -> list[tuple[int, T]]:
        """Up to ``limit`` waiting ``(slot index, item)`` pairs, at most one per slot, in
        round-robin order; waits up to ``timeout`` when none is waiting. [] on timeout or
        after close().

        With ``hold``, the slots taken from are skipped by every taker until
        :meth:`release`: with several takers, one camera's frames are then never worked on
        (and published) by two of them at once, so they stay in order."""
        with self.cond:
            if not self._closed and not self._ready():
                self._waiting += 1
                try:
                    self.cond.wait(timeout)
                finally:
                    self._waiting -= 1
            if self._closed:
                return []
            count = len(self.slots)
            taken: list[tuple[int, T]] = []
            for offset in range(count):
                index = (self._next + offset) % count
                if index in self._held:
                    continue
                item = self.slots[index].pop()
                if item is not None:
                    taken.append((index, item))
                    if len(taken) >= limit:
                        break
            if taken:
                self._next = (taken[-1][0] + 1) % count
                if hold:
                    self._held.update(index for index, _ in taken)
            return taken

    def release(self, indexes: Iterable[int]) -> None:
        """The held slots' frames are done: their next frames may be taken."""
        with self.cond:
            self._held.difference_update(indexes)
            self.cond.notify_all()

    def clear(self) -> None:
        """Forget every waiting item (not counted as drops): the node holds no frames."""
        with self.cond:
            for slot in self.slots:
                slot.pop()

    def reopen(self) -> None:
        with self.cond:
            self._closed = False
            self._held.clear()

    def close(self) -> None:
        """Wake the worker so it can exit."""
        with self.cond:
            self._closed = True
            self.cond.notify_all()
