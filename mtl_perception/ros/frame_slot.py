"""A one-frame mailbox between the subscription callback and the inference worker.

The callback never waits for inference: putting a frame replaces any frame still waiting
(counted as dropped), so a slow model yields fewer outputs, never older ones.
:attr:`LatestFrameSlot.taker_waiting` tells the callback whether the worker is idle, which
the node uses for its hand-off (see ``PerceptionNode._accept``).
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """Holds at most one item; ``put`` never blocks, ``take`` waits for the newest item."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self._waiting = 0
        self.dropped = 0

    @property
    def taker_waiting(self) -> bool:
        """True while a ``take`` is blocked on an empty slot (the worker is idle)."""
        return self._waiting > 0

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when it replaced an unprocessed one (a drop)."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._cond.notify()
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

    def close(self) -> None:
        """Wake the worker so it can exit."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
