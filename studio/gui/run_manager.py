"""Every run the app knows about: the workspace's run folders, the runs it drives, the queue.

The run folders are the truth (core.runs.list_runs), so the list survives restarts and shows
runs started from a terminal. Runs this app starts are driven by a TrainingClient; runs that are
live but started elsewhere (a terminal, `studio train --detach`, this app before it crashed) are
followed by tailing their events.jsonl, shown as running, and cancelled through the request file
in their run folder (core/run_control.py). A worker this app started stops with a checkpoint on
its own if the app dies: its stdin, the app's pipe, ends. One run trains at a time:
Train while a run is active puts the new run in the workspace's queue, and the next queued run
starts when the active one ends.

The listing is the app's one read of the workspace: runs, library and the Chat slot choices made
from them, read on Qt's thread pool (`refresh_in_background`: at start-up, when the Runs or Chat
page is shown, when a run folder appears) through core's listing cache, so a run is parsed once
per change of its files however many views ask. With 500 runs the app read every run three
times on the GUI thread and froze for about 11 s after it appeared (issue 19).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from studio.core.config import RunConfig
from studio.core.errors import StudioError
from studio.core.run_control import force_stop, request_cancel
from studio.core.run_history import RunHistory
from studio.core.run_queue import RunQueue
from studio.core.run_setup import create_run, precheck
from studio.core.library import AdapterInfo
from studio.core.runs import RUN_CONFIG, RunInfo, list_runs, load_run
from studio.core.slots import SlotChoice
from studio.core.worker_process import FORCE_STOP_AFTER_S
from studio.core.workspace import Workspace
from studio.gui.background import run_in_thread
from studio.gui.run_follower import RunFollower
from studio.gui.training_client import TrainingClient

ANNOUNCE_MS = 30       # see _launch
NEW_RUN_S = 600        # a run folder without events this young may still get its worker


@dataclass
class Listing:
    """One read of the workspace: every run, the library, and the Chat slot menus made from them."""

    runs: dict[str, RunInfo]
    adapters: list[AdapterInfo]
    choices: list[SlotChoice]


def _config_age(run_dir: Path) -> float:
    try:
        return time.time() - (run_dir / RUN_CONFIG).stat().st_mtime
    except OSError:
        return float("inf")


class RunManager(QObject):
    runs_changed = Signal()
    listing_changed = Signal()             # slot_choices / adapters moved (the Chat slot menus)
    listing_failed = Signal(object)        # the exception a background listing raised
    run_event = Signal(str, dict)          # run id, event
    run_ended = Signal(str, str)           # run id, status
    queue_changed = Signal()
    run_started = Signal(str)
    notice = Signal(str)                   # a message for the status bar (a forced stop that failed)

    def __init__(self, workspace: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.queue = RunQueue(workspace.home)
        self.infos: dict[str, RunInfo] = {}
        self.live: dict[str, TrainingClient | RunFollower] = {}
        self._cancel_requested: set[str] = set()     # runs of other processes asked to cancel
        # The last listing's library and Chat slot choices (None until the first one is in).
        self.adapters: list[AdapterInfo] = []
        self.slot_choices: list[SlotChoice] | None = None
        self._listing = False           # a background listing is running
        self._again = False             # another was asked for meanwhile
        self._stopping = threading.Event()
        self._watcher = QFileSystemWatcher([str(workspace.runs_dir)], self)
        self._debounce = QTimer(self, singleShot=True, interval=300)
        self._debounce.timeout.connect(self.refresh_in_background)
        self._watcher.directoryChanged.connect(lambda _path: self._debounce.start())

    # ---- the list of runs (and the Chat slot menus: one listing for both) ------------------------
    def refresh(self) -> None:
        """Pick up run folders that appeared (or vanished) since the last look, now: blocking, for
        tests and scripts. The app calls `refresh_in_background`; both read through the listing
        cache, so only runs whose files changed are parsed."""
        self._apply(self._read())

    def refresh_in_background(self) -> None:
        """Read the runs, the library and the slot choices off the GUI thread, then apply them and
        emit runs_changed / listing_changed. Asked while a listing runs, one more follows it (a
        folder may have changed after that listing looked): the second parses only what changed."""
        if self._listing:
            self._again = True
            return
        self._listing, self._again = True, False
        run_in_thread(self._read, self._listed, self._listing_failed, key=f"run-listing-{id(self)}")

    def _read(self) -> Listing:
        """On a worker thread: the whole listing (core only, no Qt)."""
        from studio.core.library import list_adapters
        from studio.core.slots import slot_choices

        runs = list_runs(self.workspace.runs_dir, cancelled=self._stopping.is_set)
        adapters = [] if self._stopping.is_set() else list_adapters(self.workspace.adapters_dir)
        choices = slot_choices(self.workspace, runs=runs, adapters=adapters)
        return Listing({info.run_id: info for info in runs}, adapters, choices)

    def _listed(self, listing: Listing) -> None:
        self._listing = False
        if self._stopping.is_set():
            return
        self._apply(listing)
        if self._again:
            self.refresh_in_background()

    def _listing_failed(self, exc: BaseException) -> None:
        self._listing = False
        self.listing_failed.emit(exc)
        if self._again and not self._stopping.is_set():
            self.refresh_in_background()

    def _apply(self, listing: Listing) -> None:
        """New runs are added (and followed when live elsewhere or about to start), vanished ones
        dropped, and runs not driven here whose files changed replaced; the slot choices are kept
        for the Chat page's menus."""
        changed = False
        for run_id, info in listing.runs.items():
            old = self.infos.get(run_id)
            if old is None:
                self.infos[run_id] = info
                if run_id not in self.live and (info.status == "running" or (
                        info.status == "created" and _config_age(info.path) < NEW_RUN_S)):
                    self._follow(info.path)   # live elsewhere, or a worker about to start
                changed = True
            elif run_id not in self.live and (old.history is not info.history or old.config is not info.config):
                self.infos[run_id] = info
                changed = True
        for run_id in set(self.infos) - set(listing.runs):
            if run_id not in self.live:
                del self.infos[run_id]
                changed = True
        if changed:
            self.runs_changed.emit()
        if listing.choices != self.slot_choices:
            self.slot_choices = listing.choices
            self.adapters = listing.adapters
            self.listing_changed.emit()

    def run_ids(self) -> list[str]:
        return sorted(self.infos, reverse=True)

    def history(self, run_id: str) -> RunHistory:
        source = self.live.get(run_id)
        return source.history if source is not None else self.infos[run_id].history

    def version(self, run_id: str) -> int:
        source = self.live.get(run_id)
        return source.version if source is not None else 0

    def trained_elsewhere(self, run_id: str) -> bool:
        """Live, but by a worker this app did not start (followed through its events.jsonl)."""
        source = self.live.get(run_id)
        return isinstance(source, RunFollower) and source.running

    def is_driven_here(self, run_id: str) -> bool:
        return isinstance(self.live.get(run_id), TrainingClient) and self.live[run_id].running

    def active_run(self) -> str | None:
        for run_id, source in self.live.items():
            if isinstance(source, TrainingClient) and source.running:
                return run_id
        return None

    # ---- starting, cancelling, resuming -------------------------------------------------------
    def check_then(self, config: RunConfig, then: Callable[[RunConfig], None],
                   on_error: Callable[[BaseException], None], key: str) -> None:
        """`precheck` off the GUI thread (it reads the whole dataset: seconds for a large one),
        then `then(config)` on it; `on_error(exception)` when a check fails. A newer check with the
        same `key` (one per caller: Train, the sweep) supersedes an older one."""
        run_in_thread(lambda: precheck(config, self.workspace), lambda _result: then(config), on_error,
                      key=f"precheck-{key}-{id(self)}")

    def start(self, config: RunConfig, checked: bool = False) -> tuple[str, bool]:
        """Start a run now, or queue it when one is training; (run id or queue label, started).
        `checked`: precheck already passed (`check_then`)."""
        if not checked:
            precheck(config, self.workspace)
        if self.active_run() is not None:
            entry = self.queue.add(config)
            self.queue_changed.emit()
            return entry.label, False
        return self._launch(config), True

    def enqueue_sweep(self, config: RunConfig, key: str, values: list, checked: bool = False) -> int:
        if not checked:
            precheck(config, self.workspace)
        added = self.queue.add_sweep(config, key, values)
        self.queue_changed.emit()
        if self.active_run() is None:
            self.start_next()
        return len(added)

    def start_next(self) -> str | None:
        entry = self.queue.pop()
        self.queue_changed.emit()
        if entry is None:
            return None
        return self._launch(entry.run_config())

    def start_stand_in(self, config: RunConfig, worker_args: list[str]) -> str:
        """A run folder for `config` driven by another worker command (`studio bench`'s event
        flood, given the run folder as `{run_dir}`), shown like any run."""
        return self._launch(config, worker_args=worker_args)

    def _launch(self, config: RunConfig, resume_dir: Path | None = None, worker_args: list[str] | None = None) -> str:
        run_dir = resume_dir or create_run(self.workspace, config)
        args = [a.replace("{run_dir}", str(run_dir)) for a in worker_args] if worker_args else None
        client = TrainingClient(run_dir, resume=resume_dir is not None, parent=self, worker_args=args)
        run_id = run_dir.name
        self._attach(run_id, client)
        if resume_dir is None:        # a new run: nothing to read back from the folder just written
            self.infos[run_id] = RunInfo(run_id, run_dir, RunHistory(), config)
        else:
            self.infos[run_id] = self.infos.get(run_id) or load_run(run_dir)
        client.start()
        # The list, the buttons and the plots catch up a little later, each on a turn of the event
        # loop of its own and apart from the paint of the page the click shows: all in the click
        # that started the run, they held the window for 50-100 ms on a 2-core machine.
        QTimer.singleShot(ANNOUNCE_MS, self, lambda: self._announce(run_id))
        return run_id

    def _announce(self, run_id: str) -> None:
        self.runs_changed.emit()
        QTimer.singleShot(ANNOUNCE_MS, self, lambda: self.run_started.emit(run_id))

    def resume(self, run_id: str) -> None:
        if self.active_run() is not None:
            raise StudioError(f"run {self.active_run()} is training", hint="cancel it or wait until it ends, then resume")
        self._launch(RunConfig(), resume_dir=self.workspace.run_dir(run_id))

    def cancel(self, run_id: str) -> None:
        """Save a checkpoint and stop; asked again, stop at once. A run this app drives is told on
        its worker's stdin; any other (a terminal's, a detached one, one left by an earlier app that
        crashed) through the cross-process request in its run folder, which works on every OS
        (core/run_control.py). Raises StudioError when the run is not running."""
        source = self.live.get(run_id)
        if isinstance(source, TrainingClient):
            source.cancel()
            return
        if run_id in self._cancel_requested:
            self.kill(run_id)
            return
        request_cancel(self.workspace.run_dir(run_id))
        self._cancel_requested.add(run_id)

    def kill(self, run_id: str) -> None:
        """Stop the worker now: this app's own, or (off the GUI thread: it waits for the worker to
        let go of the run) one started elsewhere, killed through the pid it wrote beside its lock."""
        source = self.live.get(run_id)
        if isinstance(source, TrainingClient):
            source.kill()
            return
        run_dir = self.workspace.run_dir(run_id)
        run_in_thread(lambda: force_stop(run_dir),
                      lambda stopped: None if stopped else self.notice.emit(
                          f"Run {run_id}: its worker was killed but has not let go of the run yet."),
                      lambda exc: self.notice.emit(f"Could not stop run {run_id}: {exc}"),
                      key=f"force-stop-{run_id}-{id(self)}")

    def shutdown(self, wait_s: float = FORCE_STOP_AFTER_S) -> None:
        """On quit: ask own workers to save a checkpoint and stop, and wait for them (up to wait_s).
        Waiting is needed: Qt kills a QProcess's process when the QProcess is destroyed at exit,
        which would lose the steps since the last checkpoint (or a half-saved adapter). A worker
        still loading has nothing to save and is not waited for. Runs of other processes go on."""
        self._stopping.set()            # a listing still running stops at its next run folder
        own = [s for s in self.live.values() if isinstance(s, TrainingClient) and s.running]
        for source in own:
            source.cancel()
        deadline = time.monotonic() + wait_s
        for source in own:
            if source.history.stage in ("train", "cancelling", "save"):
                source.wait_finished(max(0.0, deadline - time.monotonic()))

    # ---- plumbing -----------------------------------------------------------------------------
    def _follow(self, run_dir: Path) -> None:
        follower = RunFollower(run_dir, self)
        self._attach(run_dir.name, follower)
        follower.start()

    def _attach(self, run_id: str, source: TrainingClient | RunFollower) -> None:
        self._cancel_requested.discard(run_id)
        old = self.live.get(run_id)
        if isinstance(old, RunFollower):
            old.stop()
        self.live[run_id] = source
        source.event.connect(lambda event, rid=run_id: self.run_event.emit(rid, event))
        source.ended.connect(lambda status, rid=run_id: self._ended(rid, status))

    def _ended(self, run_id: str, status: str) -> None:
        self._cancel_requested.discard(run_id)
        source = self.live.get(run_id)
        if source is not None:
            self.infos[run_id] = RunInfo(run_id, source.run_dir, source.history,
                                         self.infos[run_id].config if run_id in self.infos else None)
        self.run_ended.emit(run_id, status)
        self.runs_changed.emit()
        if isinstance(source, TrainingClient) and self.active_run() is None and self.queue.entries():
            QTimer.singleShot(0, self.start_next)
