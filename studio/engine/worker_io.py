"""The worker's side of the protocol: a private stdout for events, commands from stdin.

At start the worker keeps a duplicate of the real stdout for protocol lines and points file
descriptors 1 and 2 (so C code, tqdm and stray prints too) at the human log. Library output can
therefore never corrupt the event stream. Events also go to the run's events.jsonl, so a run
can be followed (and replayed) from disk even if the parent went away.
"""

from __future__ import annotations

import io
import os
import queue
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Any, Callable

from studio.core import protocol


class Emitter:
    """Writes events to the private stdout and the run's events.jsonl.

    `human` (for runs launched by torchrun, where a terminal rather than a parent reads stdout)
    turns each event into a line of text, or None to skip it, instead of a JSON line.
    `to_stdout=False` (ranks other than 0) writes nothing to stdout.
    """

    def __init__(self, events_path: Path | None = None, log_path: Path | None = None, *,
                 human: Callable[[dict[str, Any]], str | None] | None = None, to_stdout: bool = True) -> None:
        self._lock = threading.Lock()
        self._human = human
        sys.stdout.flush()
        self._out: IO[str] | None = io.TextIOWrapper(os.fdopen(os.dup(1), "wb", buffering=0),
                                                     encoding="utf-8", line_buffering=True)
        if log_path is not None:
            log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log_fd, 2)
            os.close(log_fd)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._events: IO[str] | None = open(events_path, "a", encoding="utf-8") if events_path else None
        if not to_stdout:
            self._out = None

    def emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        event = protocol.make(type_, **fields)
        line = protocol.encode(event) + "\n"
        with self._lock:
            if self._events is not None:
                try:
                    self._events.write(line)
                    self._events.flush()
                except OSError:  # disk full: the parent still gets the event on stdout
                    pass
            if self._out is not None:
                text = line if self._human is None else self._human(event)
                try:
                    if text:
                        self._out.write(text if text.endswith("\n") else text + "\n")
                except (BrokenPipeError, OSError, ValueError):
                    self._out = None  # parent gone: keep training, events.jsonl still records
        return event

    def close(self) -> None:
        with self._lock:
            if self._events is not None:
                self._events.close()
                self._events = None


class Controls:
    """Requests to stop or save, read off the training loop and polled by it at each step.

    They come from four places: commands on stdin from the parent (`cancel`, `save_now`),
    SIGINT/SIGTERM, a cancel-request file in the run folder (`studio runs cancel` from any
    process, on any OS: see core/run_control.py), and, with `eof_cancels`, stdin reaching its end.
    The parent holds the only write end of the worker's stdin pipe, so EOF means the parent is
    gone (the terminal's `studio train` was killed, the app crashed); a worker nobody follows
    then stops at the next step with a checkpoint rather than train on as an orphan. Workers
    whose stdin is not their parent's pipe (`train --detached`, ranks under torchrun) leave it off.
    `reason` says which one asked first: "command", "signal", "request" or "parent_gone".
    """

    def __init__(self, *, eof_cancels: bool = False, request_file: Path | None = None,
                 on_parent_gone: Callable[[], None] | None = None) -> None:
        self.cancel = threading.Event()
        self.save_now = threading.Event()
        self.commands: queue.Queue[dict[str, Any]] = queue.Queue()
        self.closed = threading.Event()
        self.parent_gone = threading.Event()
        self.reason = ""
        self._eof_cancels = eof_cancels
        self._request_file = request_file
        self._on_parent_gone = on_parent_gone
        self._signals = 0

    def start(self, stdin: IO[bytes] | None = None) -> "Controls":
        # An unbuffered duplicate of fd 0: a daemon thread blocked in a BufferedReader would hold
        # its lock at interpreter exit and crash the shutdown.
        stream = stdin or open(os.dup(0), "rb", buffering=0)
        thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        thread.start()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        return self

    def request_cancel(self, reason: str) -> None:
        """Cancel at the next step; the first reason given is the one reported."""
        if not self.cancel.is_set():
            self.reason = reason
        self.cancel.set()

    def poll_requests(self) -> bool:
        """Check the run's cancel-request file (one stat) and return whether a cancel is pending."""
        if not self.cancel.is_set() and self._request_file is not None and self._request_file.exists():
            self.request_cancel("request")
        return self.cancel.is_set()

    def cancel_message(self) -> str:
        """What the `cancelling` stage says, by who asked."""
        if self.reason == "parent_gone":
            return ("the process that started this run went away (its pipe closed): saving a checkpoint, "
                    "then stopping; continue with `studio train --resume RUN`")
        if self.reason == "request":
            return "cancel requested (`studio runs cancel` or the app): saving a checkpoint before stopping"
        return "saving a checkpoint before stopping"

    def _read(self, stream: IO[bytes]) -> None:
        try:
            for raw in stream:
                command = protocol.decode(raw)
                if command is None:
                    continue
                kind = command.get("type")
                if kind == "cancel":
                    self.request_cancel("command")
                elif kind == "save_now":
                    self.save_now.set()
                else:
                    self.commands.put(command)
        except (OSError, ValueError):  # a pipe broken by the parent's death reads as its end
            pass
        self.closed.set()
        if self._eof_cancels:
            self.parent_gone.set()
            self.request_cancel("parent_gone")
            if self._on_parent_gone is not None:
                self._on_parent_gone()

    def _on_signal(self, signum: int, frame: Any) -> None:
        """First signal: cancel cleanly at the next step. Second: stop now."""
        self._signals += 1
        if self._signals == 1:
            self.request_cancel("signal")
        else:
            os._exit(130)
