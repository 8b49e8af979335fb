"""The chat worker as the Chat page sees it: one long-lived `python -m studio.engine chat` process.

The worker is started on the first Load and kept while the app runs (loading the base model is
the slow part; a later Load with the same base only attaches new adapters). Its events are folded
into a core ChatState (the same one the CLI uses) and re-emitted as signals per request, so the
chat columns and the prompt-set table can share one worker without seeing each other's answers.

A worker that exits without being asked to (killed, out of memory, a crash in C code) is
reported once through `died` with its exit code and the end of its log; the next Load starts a
new one. Everything is asynchronous: no method here waits for the worker.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.core.chat_protocol import ChatState, Sampling, generate_command, load_command
from studio.core.workspace import Workspace
from studio.gui.worker_task import WorkerTask

Turns = dict[str, list[dict[str, str]] | str]


class ChatSession(QObject):
    loading = Signal(str, int, int)          # message, step, steps (0 steps: busy, no count)
    loaded = Signal(dict)                    # the worker's `loaded` event
    warning = Signal(dict)                   # `warning` events (e.g. a chat template mismatch)
    token = Signal(str, str, str)            # request id, slot, text
    answered = Signal(str, str, dict)        # request id, slot, the `generated` event
    request_done = Signal(str)               # every slot of the request answered (or it failed)
    failed = Signal(dict)                    # an `error` event (command, message, hint, id)
    died = Signal(int, str)                  # exit code, the end of the worker's log

    def __init__(self, workspace: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.task: WorkerTask | None = None
        self.state = ChatState()
        self.is_loaded = False
        self._requests = 0
        self._closing = False

    # ---- commands ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running

    def load(self, base: str, slots: dict[str, str], **options: Any) -> None:
        """Start the worker if needed, then load `base` with one spec per slot (answered by `loaded`)."""
        if not self.running:
            self._start()
        self.is_loaded = False
        self.loading.emit("Starting the inference worker…" if self.state.status == "starting" else
                          "Loading…", 0, 0)
        assert self.task is not None
        self.task.send("load", **load_command(base, slots, **options))

    def generate(self, turns: Turns, sampling: Sampling, system: str = "") -> str:
        """Ask every slot in `turns` the same turn; returns the request id the answers will carry."""
        assert self.task is not None and self.running, "load first"
        self._requests += 1
        request = f"g{self._requests}"
        self.state.expect(request, list(turns))
        self.task.send("generate", **generate_command(request, turns, sampling, system))
        return request

    def stop(self, request: str) -> None:
        if self.running and self.task is not None:
            self.task.send("stop", id=request)

    def close(self) -> None:
        """Ask the worker to exit; kill it if it is still there after a few seconds (app exit)."""
        self._closing = True
        if self.running and self.task is not None:
            self.task.send("shutdown")
            if not self.task.process.waitForFinished(5000):
                self.task.kill()
                self.task.process.waitForFinished(2000)

    # ---- events ------------------------------------------------------------------------------------------
    def _start(self) -> None:
        self.state = ChatState()
        self._closing = False
        self.task = WorkerTask(["chat", "--home", str(self.workspace.home)], self)
        self.task.event.connect(self._event)
        self.task.finished.connect(self._finished)
        self.task.start()

    def _event(self, event: dict[str, Any]) -> None:
        self.state.apply(event)
        kind = event.get("type")
        if kind == "stage":
            self.loading.emit(str(event.get("message") or event.get("name") or ""), 0, 0)
        elif kind == "progress":
            what = str(event.get("what") or "")
            self.loading.emit(f"Loading {what}" if what else "Loading…", int(event.get("step") or 0),
                              int(event.get("max_steps") or 0))
        elif kind == "loaded":
            self.is_loaded = bool(event.get("base"))
            self.loaded.emit(event)
        elif kind == "warning":
            self.warning.emit(event)
        elif kind == "token":
            self.token.emit(str(event.get("id")), str(event.get("slot")), str(event.get("text", "")))
        elif kind == "generated":
            request = str(event.get("id"))
            self.answered.emit(request, str(event.get("slot")), event)
            if all(a.done for a in self.state.answers.get(request, {}).values()):
                self.request_done.emit(request)
        elif kind == "error":
            if event.get("command") == "load":
                self.is_loaded = False
            self.failed.emit(event)
            request = event.get("id")
            if request and request in self.state.answers:
                self.request_done.emit(str(request))

    def _finished(self, code: int, _crashed: bool) -> None:
        self.is_loaded = False
        pending = [r for r, answers in self.state.answers.items() if not all(a.done for a in answers.values())]
        for request in pending:
            for answer in self.state.answers[request].values():
                answer.done = True
        if not self._closing:
            tail = self.task.stderr_tail.strip() if self.task is not None else ""
            self.died.emit(code, tail[-1500:])
        for request in pending:
            self.request_done.emit(request)
