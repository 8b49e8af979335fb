"""Stopping a run from any process: a cancel-request file, the worker's pid, and a forced stop.

A run may be trained by a worker that no process here started (`studio train --detach`, a
terminal that was closed, an app that crashed and was reopened). The run folder is the one place
every process can reach, on every OS, so it carries the controls:

    runs/<run-id>/cancel.request   written by `studio runs cancel` (or the app); the worker's
                                   callback stats it at each optimizer step and, when it is there,
                                   saves a checkpoint and stops exactly as for a cancel on stdin
    runs/<run-id>/worker.pid       written by the worker once it holds worker.lock

No signals are needed for a clean cancel (SIGTERM on Windows is TerminateProcess, a hard kill), so
the clean path works the same everywhere. `force_stop` kills the pid, but only while the run's
lock is held: the lock is released by the OS the moment the worker dies, so a held lock means the
process that wrote worker.pid is still that worker, and a pid reused by an unrelated process is
never killed. The worker removes a stale request when it starts (an old request must not cancel a
resume) and both files when it ends.

Qt-free and torch-free: the CLI (`studio runs cancel`) and the GUI's Runs page share it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.run_history import RunHistory
from studio.core.runs import EVENTS, WORKER_LOG, load_run, record_crash, worker_alive
from studio.core.worker_process import start_detached

CANCEL_REQUEST = "cancel.request"
WORKER_PID = "worker.pid"
FORCE_WAIT_S = 30.0
POLL_S = 0.25
DETACH_WAIT_S = 60.0


class RunNotRunning(StudioError):
    """A stop asked of a run that no worker is training (finished, crashed, not started)."""


def worker_started(run_dir: Path, pid: int | None = None) -> None:
    """Called by the worker right after it took worker.lock: forget an old cancel request (made
    for an earlier attempt that ended before it saw it) and say which process holds the lock."""
    (run_dir / CANCEL_REQUEST).unlink(missing_ok=True)
    try:
        _write_atomic(run_dir / WORKER_PID, f"{os.getpid() if pid is None else pid}\n")
    except OSError:  # a full disk: train anyway (the training reports the disk); only --force is lost
        (run_dir / WORKER_PID).unlink(missing_ok=True)


def worker_finished(run_dir: Path) -> None:
    """Called by the worker before it releases the lock: nothing is left to cancel or kill."""
    for name in (CANCEL_REQUEST, WORKER_PID):
        try:
            (run_dir / name).unlink(missing_ok=True)
        except OSError:  # a read-only or vanished folder must not turn a good end into a crash
            pass


def cancel_requested(run_dir: Path) -> bool:
    """One stat: cheap enough for every optimizer step."""
    return (run_dir / CANCEL_REQUEST).exists()


def read_worker_pid(run_dir: Path) -> int | None:
    """The pid the lock holder wrote; None when missing or unreadable. Trust it only while the
    lock is held (see the module docstring)."""
    try:
        text = (run_dir / WORKER_PID).read_text(encoding="utf-8").strip()
        return int(text) if text.isdigit() and int(text) > 0 else None
    except (OSError, ValueError):
        return None


def ensure_running(run_dir: Path) -> None:
    """Raise RunNotRunning, saying how the run stands, unless a worker holds its lock."""
    if worker_alive(run_dir):
        return
    history = load_run(run_dir).history
    status = {"created": "has not started", "completed": "completed", "cancelled": "was cancelled",
              "failed": "failed"}.get(history.status, history.status)
    where = f" at step {history.step}/{history.max_steps}" if history.max_steps else ""
    raise RunNotRunning(f"run {run_dir.name} is not running: it {status}{where}",
                        hint=f"nothing to cancel; see `studio runs show {run_dir.name}`")


def request_cancel(run_dir: Path) -> None:
    """Ask the run's worker, whoever started it, to save a checkpoint at its next optimizer step
    and stop. Raises RunNotRunning when no worker holds the run."""
    ensure_running(run_dir)
    _write_atomic(run_dir / CANCEL_REQUEST, f"requested by pid {os.getpid()} at {time.time():.3f}\n")


def wait_stopped(run_dir: Path, timeout_s: float | None = None, poll_s: float = POLL_S) -> bool:
    """Block until no worker holds the run (True), or timeout_s passed (False; None waits on)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while worker_alive(run_dir):
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def force_stop(run_dir: Path, wait_s: float = FORCE_WAIT_S) -> bool:
    """Kill the run's worker now (SIGKILL; TerminateProcess on Windows) and record the run as
    force-stopped. Only a worker that still holds the lock is killed (see the module docstring).
    Returns True once the worker is gone; raises RunNotRunning if it was not running."""
    ensure_running(run_dir)
    pid = read_worker_pid(run_dir)
    if pid is None:   # a worker that writes no worker.pid: one launched by torchrun (its lock is taken elsewhere)
        raise StudioError(f"run {run_dir.name} is running but its worker's process id is unknown",
                          hint="stop it where it was started (Ctrl-C stops torchrun's ranks), "
                               "or end the process by hand")
    if not worker_alive(run_dir):     # ended while we looked: nothing to kill
        return True
    try:
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))   # SIGTERM is TerminateProcess on Windows
    except ProcessLookupError:
        pass
    except OSError as exc:
        raise StudioError(f"could not stop the worker of run {run_dir.name} (pid {pid}): {exc}",
                          hint="end the process by hand") from exc
    if not wait_stopped(run_dir, wait_s):
        return False
    record_end_unless_ended(run_dir, "force-stopped by `studio runs cancel --force`", force_stopped=True)
    return True


def record_end_unless_ended(run_dir: Path, detail: str = "", *, force_stopped: bool = False) -> list[dict]:
    """Append the crash (or force-stop) events unless the run's events already end its last
    attempt: the worker, the process that started it and `runs cancel --force` may each see it
    die, and the run should say once how it ended."""
    if RunHistory.from_file(run_dir / EVENTS).status != "running":
        return []
    return record_crash(run_dir, detail, force_stopped=force_stopped)


def launch_detached(run_dir: Path, *, resume: bool = False, wait_s: float = DETACH_WAIT_S) -> int:
    """Start the training worker of `run_dir` so that it outlives this process; return its pid
    once it holds the run (worker.pid written), so a `runs cancel` right after finds it running.
    Raises StudioError when another worker holds the run or the worker ends at once."""
    if worker_alive(run_dir):
        raise StudioError(f"run {run_dir.name} is already being trained by another worker",
                          hint=f"stop it with `studio runs cancel {run_dir.name}`, or wait until it ends")
    (run_dir / WORKER_PID).unlink(missing_ok=True)   # so the new worker's own pid is what appears
    args = ["train", "--run-dir", str(run_dir), "--detached"] + (["--resume"] if resume else [])
    proc = start_detached(args, run_dir / WORKER_LOG)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        pid = read_worker_pid(run_dir)
        if pid is not None:
            return pid
        code = proc.poll()
        if code is not None:
            lines = (run_dir / WORKER_LOG).read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise StudioError(f"the training worker of run {run_dir.name} stopped at once (exit code {code})"
                              + (f": {lines[-1]}" if lines else ""), hint=f"see {run_dir / WORKER_LOG}")
        time.sleep(0.05)
    return proc.pid   # slow to start (a loaded machine): it goes on starting on its own


def _write_atomic(path: Path, text: str) -> None:
    """Write a sibling and rename it: a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
