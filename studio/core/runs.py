"""A run folder and what it says about the run: config, status, checkpoints.

    runs/<run-id>/run.yaml         resolved config (what `studio train --config` reads)
    runs/<run-id>/events.jsonl     every protocol event, appended by the worker
    runs/<run-id>/worker.log       the worker's human log (stderr)
    runs/<run-id>/worker.lock      held by the live worker (released by the OS if it dies)
    runs/<run-id>/checkpoints/checkpoint-N/   Trainer checkpoints; `studio-complete` marks whole ones

Status comes from events.jsonl plus the lock: a run whose worker is gone without a `done`
event crashed, whatever its last event said. That is how kill -9 is never shown as "completed".
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from filelock import FileLock, Timeout

from studio.core import protocol
from studio.core.config import RunConfig
from studio.core.errors import StudioError
from studio.core.run_history import RunHistory

if TYPE_CHECKING:
    from studio.core.listing_cache import ListingCache
    from studio.core.run_index import ParsedRun

RUN_CONFIG = "run.yaml"
EVENTS = "events.jsonl"
WORKER_LOG = "worker.log"
LOCK = "worker.lock"
CHECKPOINTS = "checkpoints"
COMPLETE_MARK = "studio-complete"
_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class RunInfo:
    run_id: str
    path: Path
    history: RunHistory
    config: RunConfig | None
    config_error: str = ""

    @property
    def status(self) -> str:
        return self.history.status

    @property
    def name(self) -> str:
        return self.config.name if self.config else ""

    @property
    def objective(self) -> str:
        """What the run optimised (train.objective; a run.yaml from before the field: sft)."""
        return run_objective(self.config)

    @property
    def adapter_name(self) -> str:
        """The name the adapter was saved under ("" until the run completed)."""
        return str((self.history.done or {}).get("adapter_name") or "")


def run_objective(config: RunConfig | None) -> str:
    """The run's objective, "" when its config cannot be read."""
    return (getattr(config.train, "objective", "") or "sft") if config else ""


def saved_as_note(configured: str, adapter: str | None) -> str:
    """"ticket-bot-v2 (ticket-bot was taken)" when the library gave the adapter a version suffix
    because the name the run asked for was in use; "" when it kept its name (or has none yet).
    The one wording of the Runs page, its list's tooltip and `studio runs show`."""
    if adapter and configured and adapter != configured:
        return f"{adapter} ({configured} was taken)"
    return ""


def worker_alive(run_dir: Path) -> bool:
    """True while a worker holds the run's lock (an OS lock: gone the moment the process dies)."""
    lock_path = run_dir / LOCK
    if not lock_path.exists():
        return False
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False


def load_run(run_dir: Path) -> RunInfo:
    """One run read from its files now (no cache): what `runs show` and the views of one run use."""
    parsed = _parse_run(run_dir)
    history = parsed.history
    if history.status == "running" and not worker_alive(run_dir):
        for event in crash_events(run_dir):
            history.apply(event)
    return RunInfo(run_dir.name, run_dir, history, parsed.config, parsed.config_error)


def _parse_run(run_dir: Path) -> "ParsedRun":
    from studio.core.config_io import load_config
    from studio.core.run_index import ParsedRun

    history = RunHistory.from_file(run_dir / EVENTS)
    config, error = None, ""
    try:
        config = load_config(run_dir / RUN_CONFIG)
    except StudioError as exc:
        error = str(exc)
    return ParsedRun(history, config, error)


def cached_run(run_dir: Path, cache: "ListingCache[ParsedRun] | None" = None) -> RunInfo:
    """load_run through the listing cache (core/run_index.py): the same RunInfo, parsed only when
    run.yaml or events.jsonl changed. Its config and history are shared with other listings:
    read-only (a crashed run's history is a copy with the crash applied)."""
    from studio.core.run_index import parsed_run, run_cache, with_crash

    cache = cache if cache is not None else run_cache(run_dir.parent)
    parsed = parsed_run(run_dir, (RUN_CONFIG, EVENTS), _parse_run, cache)
    history = parsed.history
    if history.status == "running" and not worker_alive(run_dir):
        history = with_crash(parsed, crash_events(run_dir))
    return RunInfo(run_dir.name, run_dir, history, parsed.config, parsed.config_error)


def crash_events(run_dir: Path, detail: str = "", *, force_stopped: bool = False) -> list[dict]:
    """The error + done pair that stands for a worker that ended without reporting: it crashed
    (or was killed), or it was force-stopped after a cancel it did not answer in time."""
    ckpt = latest_checkpoint(run_dir)
    if force_stopped:
        kind, status = "force_stopped", "cancelled"
        message = "the worker did not stop in time after cancel and was force-stopped"
    else:
        kind, status = "crashed", "failed"
        message = "the worker stopped without finishing (killed, out of memory or crashed)"
    return [
        protocol.make("error", kind=kind, message=f"{message}{': ' + detail if detail else ''}",
                      hint=(f"resume from {ckpt.name} with `studio train --resume {run_dir.name}`" if ckpt
                            else "no checkpoint was saved; start the run again"),
                      checkpoint=str(ckpt) if ckpt else None),
        protocol.make("done", status=status, checkpoint=str(ckpt) if ckpt else None),
    ]


def remove_incomplete_checkpoints(run_dir: Path) -> list[Path]:
    """Delete checkpoint folders without the completion mark (cut short by a crash or a full
    disk). Call only while holding the run's lock: a live worker may be writing one."""
    import shutil

    removed = []
    folder = run_dir / CHECKPOINTS
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if _CKPT_RE.match(path.name) and not (path / COMPLETE_MARK).is_file():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def record_crash(run_dir: Path, detail: str = "", *, force_stopped: bool = False) -> list[dict]:
    """Append the crash events for a worker that exited without a `done` event; return them."""
    events = crash_events(run_dir, detail, force_stopped=force_stopped)
    with open(run_dir / EVENTS, "a", encoding="utf-8") as fh:
        for event in events:
            fh.write(protocol.encode(event) + "\n")
    return events


def run_folders(runs_dir: Path) -> list[Path]:
    """The run folders (those with a run.yaml), oldest id first."""
    try:
        with os.scandir(runs_dir) as entries:
            names = sorted(e.name for e in entries)
    except OSError:           # no runs folder yet (or it is not a folder)
        return []
    return [runs_dir / name for name in names if os.path.isfile(os.path.join(runs_dir, name, RUN_CONFIG))]


def list_runs(runs_dir: Path, cancelled: "Callable[[], bool] | None" = None) -> list[RunInfo]:
    """Every run of the workspace, oldest id first: each parsed only when its files changed since
    any process last listed it (core/run_index.py). `cancelled`: checked between runs (an app that
    quits stops its listing); the runs read so far are returned."""
    return _listing(runs_dir, cached_run, cancelled)


def list_run_summaries(runs_dir: Path) -> list[dict[str, Any]]:
    """`run_summary` of every run, oldest id first, as `studio runs list` prints them: from the
    index's summaries, without decoding histories or configs (core/run_index.py). A run that is
    running (its time moves; its worker may have died) is summarised from its whole history."""
    from studio.core.run_index import parsed_run

    def summary(run_dir: Path, cache: "ListingCache[ParsedRun]") -> dict[str, Any]:
        stored = parsed_run(run_dir, (RUN_CONFIG, EVENTS), _parse_run, cache).summary
        if stored["status"] in MOVING_STATUSES:
            return run_summary(cached_run(run_dir, cache))
        return _with_live_fields(run_dir, stored)
    return _listing(runs_dir, summary, None)


def _listing(runs_dir: Path, each: "Callable[[Path, ListingCache[ParsedRun]], Any]",
             cancelled: "Callable[[], bool] | None") -> list[Any]:
    from studio.core.run_index import run_cache

    folders = run_folders(runs_dir)
    cache = run_cache(runs_dir)
    found = []
    for path in folders:
        if cancelled is not None and cancelled():
            return found
        found.append(each(path, cache))
    cache.retain({p.name for p in folders})
    cache.save()
    return found


# ---- the summary of a run: one line of `studio runs list`, one object of its --json ------------------
MOVING_STATUSES = ("running", "created")      # their time (and, running, their status) change without a write
STORED_SUMMARY_KEYS = ("name", "objective", "status", "step", "max_steps", "final_loss", "best_eval_loss",
                       "adapter_name", "saved_as", "seconds", "time", "adapter", "error")
SUMMARY_KEYS = ("run_id", *STORED_SUMMARY_KEYS[:-1], "checkpoint", "error", "path")


def stored_summary(h: RunHistory, config: RunConfig | None) -> dict[str, Any]:
    """What a run's summary takes from its files (kept in the run index): all but its id, its
    folder and its latest checkpoint."""
    from studio.core.eta import run_seconds, time_text

    name = config.name if config else ""
    adapter_name = str((h.done or {}).get("adapter_name") or "")
    seconds = run_seconds(h)
    return {"name": name, "objective": run_objective(config), "status": h.status, "step": h.step,
            "max_steps": h.max_steps, "final_loss": h.final_loss, "best_eval_loss": h.best_eval_loss,
            # The name the adapter was saved under, and the note when a version suffix was added
            # because `name` was taken ("ticket-bot-v2 (ticket-bot was taken)").
            "adapter_name": adapter_name or None, "saved_as": saved_as_note(name, adapter_name) or None,
            "seconds": round(seconds, 1) if seconds is not None else None, "time": time_text(h) or None,
            "adapter": (h.done or {}).get("adapter"),
            "error": h.error and {k: h.error.get(k) for k in ("kind", "message", "hint")}}


def run_summary(info: RunInfo) -> dict[str, Any]:
    """The run as `studio runs list --json` shows it (and `runs show` starts from)."""
    return _with_live_fields(info.path, stored_summary(info.history, info.config))


def _with_live_fields(run_dir: Path, stored: dict[str, Any]) -> dict[str, Any]:
    ckpt = latest_checkpoint(run_dir)
    live = {"run_id": run_dir.name, "checkpoint": str(ckpt) if ckpt else None, "path": str(run_dir)}
    return {key: live[key] if key in live else stored[key] for key in SUMMARY_KEYS}


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (folders without the completion mark are ignored)."""
    folder = run_dir / CHECKPOINTS
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries]
    except OSError:
        return []
    found = []
    for name in names:
        match = _CKPT_RE.match(name)
        if match and os.path.isfile(os.path.join(folder, name, COMPLETE_MARK)):
            found.append((int(match.group(1)), folder / name))
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1] if found else None
