"""SIGTERM and SIGINT: stop within seconds, emit the STATE of what was emitted, exit 143/130.

Requests run on worker pools whose threads may sleep in a backoff (or a Comagic quota
wait) for minutes, and Python waits for those threads at exit. So the handler (signals
are handled on the main thread) raises :class:`Interrupted` there; the tap catches it,
writes the final STATE (bookmarks only move per complete window, so the tap's current
state covers exactly what was emitted), flushes stdout and ends the process at once with
``os._exit``, without waiting for the pool threads.

A signal that arrives while the main thread writes a message is held until the message
is whole (:func:`deferred`), so stdout never ends in half a line.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """The run was asked to stop by a signal (a BaseException: ``except Exception``
    blocks of the SDK and of libraries do not swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _Guard:
    """Whether the main thread is inside a message write, and a signal held meanwhile."""

    def __init__(self) -> None:
        self.depth = 0
        self.held: int | None = None
        self.raised = False
        self.after_run = False  # every message is out: a signal just ends the process


_GUARD = _Guard()


def _handle(signum: int, frame: FrameType | None) -> None:
    if _GUARD.after_run:  # e.g. while Python waits for a worker still in a backoff sleep
        os.write(2, f"stopped by {signal.Signals(signum).name} after the run\n".encode())
        os._exit(128 + signum)
    if _GUARD.raised:
        return  # a second signal while the first one is being handled
    if _GUARD.depth:
        _GUARD.held = signum
        return
    _GUARD.raised = True
    raise Interrupted(signum)


def install() -> None:
    """Route SIGTERM and SIGINT to :class:`Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        signal.signal(signum, _handle)


def exit_now(code: Any) -> None:
    """End the process with ``code`` (a SystemExit code) once every output is flushed,
    without waiting for worker threads: a request still sleeping in a backoff after the
    run has failed or ended must not keep the process alive for minutes."""
    try:
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
        atexit._run_exitfuncs()  # our writer's flush, logging.shutdown: not thread joins
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code if isinstance(code, int) else 0)


def run_ended() -> None:
    """Every message is written (the final STATE included): from now on a signal ends
    the process at once instead of waiting for worker threads at exit."""
    sys.stdout.flush()
    _GUARD.after_run = True


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal until the block ends (for writes that must not be cut in half)."""
    _GUARD.depth += 1
    try:
        yield
    finally:
        _GUARD.depth -= 1
        held = _GUARD.held
        if not _GUARD.depth and held is not None and not _GUARD.raised:
            _GUARD.held = None
            _GUARD.raised = True
            raise Interrupted(held)


def finish(stop: Interrupted, name: str, final_messages: Callable[[], Any] | None = None
           ) -> None:
    """Write what ``final_messages`` writes (the final STATE), one line on stderr, and end
    the process now with 128 + the signal number."""
    code = stop.exit_code
    try:
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)  # nothing may cut the final STATE
        if final_messages is not None:
            final_messages()
        sys.stdout.flush()
        # Straight to the descriptor: the signal may have cut a log write that holds the
        # stderr wrapper's lock (the line holds no secret: a name and a signal).
        os.write(2, f"{name}: {stop}; the last STATE covers every record emitted "
                    f"(exit {code})\n".encode())
    finally:
        os._exit(code)
