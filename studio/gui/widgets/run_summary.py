"""The head of the selected run: name, status, stage (once done, the name the adapter was saved
under, with "(<name> was taken)" when the library added a version suffix), progress, the elapsed
time next to a smoothed ETA (core/eta.py), Cancel and Resume, and what went wrong in plain words
when the run failed.

The time label is beside the bar, not drawn in it: at 1024x700 a bar's text overlapped its
chunk. It counts down between progress events (`show_time`, called by the page's frame timer),
so a long evaluation does not freeze it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from studio.core.eta import left_text, time_text
from studio.core.run_history import RunHistory
from studio.core.runs import saved_as_note
from studio.gui.widgets.message_banner import MessageBanner

STAGES = {"import": "Starting the worker", "load_data": "Reading the data", "download": "Downloading the model",
          "load_model": "Loading the model", "tokenize": "Tokenizing", "model_ready": "Model ready",
          "train": "Training", "save": "Saving the adapter", "cancelling": "Saving a checkpoint, then stopping"}
FAILURES = {
    "oom": "The run ran out of memory",
    "crashed": "The training worker stopped unexpectedly",
    "data": "There is a problem with the dataset",
    "model": "The base model could not be loaded",
    "config": "The run's settings are not valid",
    "workspace": "The workspace could not be written",
    "internal": "The training worker hit an error",
}


def eta_text(seconds: float | None) -> str:
    """The time left as the status bar says it: the same words as the Runs page and the CLI."""
    return left_text(seconds)


class RunSummary(QWidget):
    cancel_clicked = Signal()
    resume_clicked = Signal()
    log_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = QLabel()
        self.name.setProperty("role", "title")
        self.badge = QLabel()
        self.badge.setObjectName("run-status")
        self.badge.setProperty("role", "badge")
        self.stage = QLabel()
        self.stage.setObjectName("run-stage")
        self.stage.setProperty("role", "muted")
        self.stage.setWordWrap(True)           # a long outcome wraps rather than squeezing the bar
        self.stage.setMinimumWidth(120)
        self.progress = QProgressBar()
        self.progress.setObjectName("run-progress")
        # Wide enough for its own text at any size ("step 12,345 of 12,345"), never cut.
        self.progress.setMinimumWidth(self.progress.fontMetrics().horizontalAdvance("step 00,000 of 00,000") + 32)
        self.timing = QLabel()
        self.timing.setObjectName("run-time")
        self.timing.setProperty("role", "muted")
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("cancel-run")
        self.cancel.setToolTip("Save a checkpoint and stop (click again to stop at once)")
        self.cancel.clicked.connect(self.cancel_clicked)
        self.resume = QPushButton("Resume")
        self.resume.setObjectName("resume-run")
        self.resume.setToolTip("Continue from the last complete checkpoint")
        self.resume.clicked.connect(self.resume_clicked)
        self.banner = MessageBanner()
        top = QHBoxLayout()
        top.addWidget(self.name)
        top.addWidget(self.badge)
        top.addStretch(1)
        top.addWidget(self.cancel)
        top.addWidget(self.resume)
        line = QHBoxLayout()
        line.addWidget(self.stage, 3)
        line.addWidget(self.progress, 2)
        line.addWidget(self.timing)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(line)
        layout.addWidget(self.banner)

    def show_run(self, name: str, history: RunHistory, can_cancel: bool, can_resume: bool) -> None:
        self.name.setText(name)
        status = history.status if history.status != "created" else "starting"
        if self.badge.text() != status:
            self.badge.setText(status)
            self.badge.setProperty("status", status)
            self.badge.style().unpolish(self.badge)
            self.badge.style().polish(self.badge)
        self.stage.setText(self.stage_text(history, name))
        if history.max_steps:
            self.progress.setRange(0, history.max_steps)
            self.progress.setValue(history.step)
            self.progress.setFormat(f"step {history.step:,} of {history.max_steps:,}")
        else:
            self.progress.setRange(0, 0 if history.status == "running" else 1)
            self.progress.setFormat("")
        self.show_time(history)
        self.cancel.setEnabled(can_cancel)
        self.resume.setEnabled(can_resume)
        self._show_outcome(history, can_resume)

    def show_time(self, history: RunHistory) -> None:
        """"elapsed 3m 12s · about 1m 40s left" while it runs, "took 4m 05s" once it ended."""
        text = time_text(history)
        if self.timing.text() != text:
            self.timing.setText(text)

    def stage_text(self, history: RunHistory, configured: str = "") -> str:
        """What the run is doing; `configured` is the adapter name the run asked for."""
        if history.status == "completed":
            done = history.done or {}
            name = done.get("adapter_name", "?")
            return f"Adapter saved to the library as {saved_as_note(configured, name) or name}"
        if history.status == "cancelled":
            return "Cancelled; a checkpoint was saved, so the run can be resumed"
        if history.status == "failed":
            return "Failed"
        stage = STAGES.get(history.stage, history.stage or "Starting")
        message = history.stage_message
        return f"{stage}: {message}" if message and history.stage not in ("train",) else stage

    def _show_outcome(self, history: RunHistory, can_resume: bool) -> None:
        if history.status != "failed":
            self.banner.hide()
            return
        error = history.error or {}
        title = FAILURES.get(str(error.get("kind")), "The run failed")
        actions = [("Show the log", self.log_clicked.emit)]
        if can_resume:
            actions.insert(0, ("Resume", self.resume_clicked.emit))
        self.banner.show_message(title, str(error.get("message", "")), str(error.get("hint", "")), actions=actions)
