"""Starting a worker process and talking to it (for the CLI; the GUI uses QProcess with the
same `worker_command`).

A worker is `python -m studio.engine <command> ...`; a frozen app (PyInstaller) has no
`python -m`, so there the app's own executable is started with `--worker`. The child gets its
own process group so a Ctrl-C in the terminal reaches the parent, which then asks the worker to
cancel cleanly instead of killing it mid-write. In its own session the worker would also outlive a
parent killed with SIGKILL, so a training worker takes the end of its stdin (the parent held the
pipe's only write end) as a cancel: it saves a checkpoint and stops (engine/worker_io.Controls).
`start_detached` is the one way to start a worker meant to outlive its parent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from studio.core import protocol
from studio.core.errors import StudioError

FORCE_STOP_AFTER_S = 60.0


def worker_command(*args: str) -> list[str]:
    program = frozen_program()
    if program:
        return [program, "--worker", *args]
    return [sys.executable, "-m", "studio.engine", *args]


def frozen_program() -> str:
    """In a frozen app, the console `studio` program beside the running one ("" when running from
    a Python install): on Windows and macOS the app is also "LoRA Studio" without a console, whose
    workers should still have real stdio."""
    if not getattr(sys, "frozen", False):
        return ""
    here = Path(sys.executable)
    sibling = here.with_name("studio.exe" if os.name == "nt" else "studio")
    return str(sibling) if sibling.is_file() else str(here)


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Quiet the libraries' own progress bars: the worker reports progress as events.
    env.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    env.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # Nothing is sent anywhere: no usage telemetry from the Hugging Face libraries.
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env.setdefault("DO_NOT_TRACK", "1")
    # Make `import studio` work from a source checkout that is not installed.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH", "")]))
    return env


class WorkerProcess:
    """A running worker: iterate its events, send it commands, stop it."""

    def __init__(self, args: list[str], *, stderr_log: Path | None = None) -> None:
        kwargs: dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
        else:
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        self.proc = subprocess.Popen(
            worker_command(*args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=worker_env(), **kwargs)
        self._stderr_tail: list[str] = []
        self._stderr_log = stderr_log
        self._stderr_thread = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_thread.start()
        self._cancelled = False

    def _pump_stderr(self) -> None:
        """Keep the last lines of whatever the worker wrote before it took over its own log."""
        assert self.proc.stderr is not None
        log: IO[str] | None = None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", errors="replace")
            self._stderr_tail = (self._stderr_tail + [line])[-50:]
            if self._stderr_log is not None:
                if log is None:
                    log = open(self._stderr_log, "a", encoding="utf-8")
                log.write(line)
                log.flush()
        if log is not None:
            log.close()

    def events(self) -> Iterator[dict[str, Any]]:
        """Protocol events until the worker closes its stdout; stray lines are skipped."""
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            event = protocol.decode(raw)
            if event is not None:
                yield event

    def send(self, type_: str, **fields: Any) -> bool:
        if self.proc.poll() is not None or self.proc.stdin is None:
            return False
        try:
            self.proc.stdin.write((protocol.encode(protocol.make(type_, **fields)) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def cancel(self, force_after_s: float = FORCE_STOP_AFTER_S) -> None:
        """Ask for a clean stop (checkpoint, then exit); a second call, or a worker still running
        `force_after_s` later, is killed. Checkpoints are marked complete only once fully
        written, so a kill never leaves one that looks good."""
        if self._cancelled:
            self.kill()
            return
        self._cancelled = True
        if not self.send("cancel") and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        timer = threading.Timer(force_after_s, self.kill)
        timer.daemon = True
        timer.start()

    @property
    def cancel_requested(self) -> bool:
        return self._cancelled

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def wait(self) -> int:
        code = self.proc.wait()
        self._stderr_thread.join(timeout=5)
        return code

    @property
    def stderr_tail(self) -> str:
        return "".join(self._stderr_tail)


def start_detached(args: list[str], log_path: Path) -> subprocess.Popen:
    """A worker that outlives this process (`studio train --detach`): its own session (process
    group and no console on Windows), stdin from the null device and stdout/stderr appended to
    `log_path`, so nothing ties it to the terminal or to this process. Pass the worker
    `--detached` too: without it the end of stdin would read as its parent's death."""
    kwargs: dict[str, Any] = {}
    if os.name == "posix":
        kwargs["start_new_session"] = True
    else:
        kwargs["creationflags"] = (subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
                                   | subprocess.DETACHED_PROCESS)  # type: ignore[attr-defined]
    with open(log_path, "ab") as log:
        return subprocess.Popen(worker_command(*args), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=worker_env(), close_fds=True, **kwargs)


def run_to_done(worker_args: list[str]) -> list[dict[str, Any]]:
    """Run a short worker command to its end (blocking); return its `result` events, raise its error
    as a StudioError. Used by `studio demo`, `studio adapters import` and the app's import (off the GUI
    thread) for the pickle conversion."""
    worker = WorkerProcess(worker_args)
    results, error, done = [], None, None
    for event in worker.events():
        if event["type"] == "result":
            results.append(event)
        elif event["type"] == "error":
            error = event
        elif event["type"] == "done":
            done = event
    code = worker.wait()
    if done is None or done.get("status") != "completed":
        if error:
            raise StudioError(error.get("message", "worker failed"), hint=error.get("hint", ""),
                              kind=error.get("kind", "internal"))
        raise StudioError(f"the worker `{worker_args[0]}` stopped with exit code {code}",
                          hint="its output was:\n" + worker.stderr_tail[-2000:], kind="internal")
    return results
