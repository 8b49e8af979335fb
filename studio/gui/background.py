"""Running a plain function off the GUI thread and getting its result back on it.

Reading a large dataset or a model's weight headers must not freeze the window. `run_in_thread`
runs the function on Qt's thread pool and calls `on_done(result)` or `on_error(exception)` on the
GUI thread. A newer call with the same `key` makes older results stale: they are dropped, so a
slow read of a file the user already replaced never overwrites the newer one. A result whose
widget has been deleted meanwhile (a page closed, a test's window torn down) is dropped too: the
widget's bound method is checked, or the `owner` passed in for a lambda.
"""

from __future__ import annotations

from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

_generation: dict[str, int] = {}
_alive: set["_Relay"] = set()


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.fn = fn
        self.relay = relay

    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to on_error on the GUI thread
            self._send(self.relay.failed, exc)
            return
        self._send(self.relay.done, result)

    @staticmethod
    def _send(signal: Any, value: Any) -> None:
        # Wrapped in a list: a bare None sent through a queued Signal(object) upsets PySide6's
        # reference counting (a crash at exit).
        try:
            signal.emit([value])
        except RuntimeError:       # the app is closing and the relay is gone: nobody to tell
            pass


def invalidate(key: str) -> None:
    """Make the results of jobs with `key` that are still running stale: they are dropped."""
    _generation[key] = _generation.get(key, 0) + 1


def run_in_thread(fn: Callable[[], Any], on_done: Callable[[Any], None],
                  on_error: Callable[[BaseException], None], key: str = "", owner: QObject | None = None) -> None:
    owners = [o for o in (owner, getattr(on_done, "__self__", None), getattr(on_error, "__self__", None))
              if isinstance(o, QObject)]
    generation = _generation.get(key, 0) + 1
    _generation[key] = generation
    relay = _Relay()
    _alive.add(relay)

    def current() -> bool:
        return not key or _generation.get(key) == generation

    def finish(callback: Callable[[Any], None], value: Any) -> None:
        _alive.discard(relay)
        if current() and all(shiboken6.isValid(o) for o in owners):
            callback(value)

    relay.done.connect(lambda boxed: finish(on_done, boxed[0]))
    relay.failed.connect(lambda boxed: finish(on_error, boxed[0]))
    QThreadPool.globalInstance().start(_Job(fn, relay))


def wait_for_background(timeout_ms: int = 30_000) -> bool:
    """For tests and screenshots: block until queued background jobs have run."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
