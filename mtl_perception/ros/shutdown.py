"""Clean exit on Ctrl-C and SIGTERM, however many signals arrive, for the node and the tools.

A terminal's Ctrl-C under ``ros2 launch`` signals the whole process group and launch forwards
one more SIGINT, so a node gets two within milliseconds. With Python's default handler the
second one raised ``KeyboardInterrupt`` inside ``destroy_node`` and the node died with a
traceback (exit -2). Here the first SIGINT or SIGTERM raises ``KeyboardInterrupt`` in the main
thread (out of ``spin``, a callback or node construction, e.g. model loading); a later one
is only counted, and from the start of teardown (``disarm``) both signals are ignored, so
``destroy_node`` and ``try_shutdown`` always run to the end. Ignored, not handled: Python's
finalization puts ``SIG_DFL`` back for signals that have a Python handler, and a SIGINT
arriving then (the second one, right after a quick teardown) killed the process (exit -2).

Order matters: install before ``rclpy.init``. rclpy's own handlers (the default
``SignalHandlerOptions.ALL`` for the default context, in rclpy 7.x and 9.x alike) are C-level
handlers that chain to the handler they replace and wake executors blocked in ``rcl_wait``;
installed after ours, they chain to ours, so ``spin`` wakes at once and this handler decides.
Installed the other way round, ``signal.signal`` would replace rclpy's handler and a blocked
``spin`` would not wake. On SIGTERM, rclpy 9.x also shuts the context down (``spin`` may
raise ``ExternalShutdownException`` instead, caught alike).

Usage (the rclpy demo pattern)::

    signals = ShutdownSignals().install()
    try:
        rclpy.init(args=ros, signal_handler_options=SignalHandlerOptions.ALL)
        node = ...
        rclpy.spin(node)
    except (KeyboardInterrupt, Exception) as exc:
        if not signals.absorbs(exc):
            raise
    finally:
        signals.disarm()  # SIGINT and SIGTERM are ignored from here on
        ...destroy_node(), rclpy.try_shutdown()
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ShutdownSignals:
    """SIGINT/SIGTERM handler: ``KeyboardInterrupt`` on the first signal, then only counts.

    ``disarm()`` at the start of teardown ignores both signals from then on, also when
    teardown began for another reason (playback ended, ``ExternalShutdownException``). For a
    ``main()`` that is the process's entry point; a caller that goes on living after it can
    ``restore()`` the handlers that ``install`` replaced.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self.armed = True
        self._previous: dict[int, Any] = {}

    def install(self) -> ShutdownSignals:
        """Take over SIGINT and SIGTERM (main thread only; before ``rclpy.init``)."""
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    @property
    def interrupted(self) -> bool:
        """Whether SIGINT or SIGTERM arrived.

        The ``KeyboardInterrupt`` raised by the handler can land inside Python code that
        rclpy's C++ layer is calling (e.g. while ``take_message`` converts its arguments);
        pybind11 then turns it into a ``RuntimeError``. An exception that surfaces after a
        signal is therefore treated as the interrupt itself: callers ask this to tell.
        """
        return bool(self.received)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold a first signal that arrives inside the block and raise it at the end.

        For constructors that must not stop half-way: rclpy's executor interrupted inside
        ``__init__`` prints a traceback from its ``__del__`` later (a missing attribute).
        """
        armed, before = self.armed, len(self.received)
        self.armed = False
        try:
            yield
        finally:
            self.armed = armed
        if armed and len(self.received) > before:
            self.armed = False
            raise KeyboardInterrupt

    def absorbs(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the requested shutdown rather than a failure: the interrupt
        itself, rclpy's shutdown of the context, or anything raised after a signal."""
        from rclpy.executors import ExternalShutdownException

        return isinstance(exc, (KeyboardInterrupt, ExternalShutdownException)) or (
            isinstance(exc, Exception) and self.interrupted)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.armed:
            self.armed = False  # before raising: the next signal must find it disarmed
            raise KeyboardInterrupt

    def disarm(self) -> None:
        """Ignore SIGINT and SIGTERM from now on (``SIG_IGN``: also during finalization).

        This replaces rclpy's C-level handlers too; ``rclpy.try_shutdown`` then sees that and
        leaves ``SIG_IGN`` in place. Nothing needs waking any more: teardown is under way.
        """
        self.armed = False
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    def restore(self) -> None:
        """Put back the handlers that ``install`` replaced."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
