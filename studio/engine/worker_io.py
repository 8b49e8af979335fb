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
    """Requests from the parent, read on a background thread and polled by the trainer."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.save_now = threading.Event()
        self.commands: queue.Queue[dict[str, Any]] = queue.Queue()
        self.closed = threading.Event()
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

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            command = protocol.decode(raw)
            if command is None:
                continue
            kind = command.get("type")
            if kind == "cancel":
                self.cancel.set()
            elif kind == "save_now":
                self.save_now.set()
            else:
                self.commands.put(command)
        self.closed.set()

    def _on_signal(self, signum: int, frame: Any) -> None:
        """First signal: cancel cleanly at the next step. Second: stop now."""
        self._signals += 1
        if self._signals == 1:
            self.cancel.set()
        else:
            os._exit(130)
