"""Driving a chat worker from Python (the CLI, prompt sets, tests): start it, load, generate, stop.

The GUI talks to the same worker through QProcess with the same commands (core.chat_protocol);
this client is the blocking version for scripts: `generate` returns when every slot has answered,
and `on_event` sees each event (tokens included) as it arrives, for live display.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from studio.core.chat_protocol import ChatState, Sampling, generate_command, load_command
from studio.core.errors import StudioError
from studio.core.worker_process import WorkerProcess

EventHook = Callable[[dict[str, Any]], None] | None
SHUTDOWN_WAIT_S = 30.0


class ChatClient:
    def __init__(self, home: Path | str | None = None) -> None:
        self.worker = WorkerProcess(["chat"] + (["--home", str(home)] if home else []))
        self.state = ChatState()
        self._events: Iterator[dict[str, Any]] = self.worker.events()
        self._requests = 0
        self._until(lambda e: e["type"] == "hello", None, "start")

    def __enter__(self) -> "ChatClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, base: str, slots: dict[str, str], on_event: EventHook = None, **options: Any) -> dict[str, Any]:
        """Load `base` (may be empty: taken from the adapters) with one spec per slot; the `loaded` event."""
        self.worker.send("load", **load_command(base, slots, **options))
        return self._until(lambda e: e["type"] == "loaded", on_event, "load")

    def generate(self, turns: dict[str, list[dict[str, str]] | str], sampling: Sampling, system: str = "",
                 on_event: EventHook = None) -> dict[str, dict[str, Any]]:
        """One turn in every slot of `turns`; returns each slot's `generated` event."""
        self._requests += 1
        request = f"r{self._requests}"
        self.worker.send("generate", **generate_command(request, turns, sampling, system))
        self.state.expect(request, list(turns))
        answers: dict[str, dict[str, Any]] = {}

        def finished(event: dict[str, Any]) -> bool:
            if event["type"] == "generated" and event.get("id") == request:
                answers[event["slot"]] = event
            return len(answers) == len(turns)

        self._until(finished, on_event, "generate", request)
        return answers

    @property
    def last_request(self) -> str:
        return f"r{self._requests}"

    def stop(self, request: str | None = None, slot: str | None = None) -> None:
        """Safe from another thread (e.g. a Ctrl-C handler): it only writes to the worker's stdin."""
        self.worker.send("stop", id=request or self.last_request, **({"slot": slot} if slot else {}))

    def close(self) -> None:
        if self.worker.proc.poll() is None:
            self.worker.send("shutdown")
            timer = threading.Timer(SHUTDOWN_WAIT_S, self.worker.kill)
            timer.daemon = True
            timer.start()
            for _ in self._events:  # drain until the worker closes its stdout
                pass
            timer.cancel()
        self.worker.wait()

    def _until(self, done: Callable[[dict[str, Any]], bool], on_event: EventHook, command: str,
               request: str | None = None) -> dict[str, Any]:
        for event in self._events:
            self.state.apply(event)
            if on_event is not None:
                on_event(event)
            if event["type"] == "error" and (event.get("command") == command or event.get("command") is None
                                             or (request and event.get("id") == request)):
                raise StudioError(event.get("message", f"{command} failed"), hint=event.get("hint", ""),
                                  kind=event.get("kind", "internal"), where=event.get("where", ""))
            if done(event):
                return event
        code = self.worker.wait()
        tail = self.worker.stderr_tail.strip()
        raise StudioError(f"the chat worker stopped during {command} (exit code {code})",
                          hint="its last output was:\n" + tail[-2000:] if tail else "see the log above", kind="internal")
