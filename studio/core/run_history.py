"""Replaying a run's events into series and a status: the one parser behind every view of a run.

The CLI's progress bar, the GUI's live plots and the Runs list of finished runs all feed events
through `RunHistory.apply`, so a run looks the same live and replayed from events.jsonl. Steps
re-done after a resume replace the values logged before the crash.

Prediction samples (`predictions` events, one per evaluation) keep their rows for the last
PREDICTION_EVALS evaluations only, so a long run with frequent evaluations stays small in memory;
the exact-match share and the seconds spent answering are kept for every evaluation (one number
each), for a curve and for the time they took out of the `train` stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core import protocol

SERIES = ("loss", "lr", "grad_norm", "tokens_per_s", "mem_bytes", "eval_loss")
# The preference objectives' own figures (TRL's rewards/* and kl), train and eval.
PREFERENCE_SERIES = ("reward_chosen", "reward_rejected", "reward_margin", "pref_accuracy", "kl", "nll_loss")
SERIES = SERIES + PREFERENCE_SERIES + tuple("eval_" + key for key in PREFERENCE_SERIES)
PREDICTION_EVALS = 50       # evaluations whose prediction rows are kept


@dataclass
class RunHistory:
    status: str = "created"        # created, running, completed, cancelled, failed
    stage: str = ""
    stage_message: str = ""
    step: int = 0
    max_steps: int = 0
    epoch: float = 0.0
    eta_s: float | None = None
    eta_at: float | None = None    # when eta_s was sent: views count it down between events (core/eta.py)
    series: dict[str, dict[int, float]] = field(default_factory=lambda: {k: {} for k in SERIES})
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    stage_times: dict[str, float] = field(default_factory=dict)
    data_stats: dict[str, Any] = field(default_factory=dict)
    hello: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    done: dict[str, Any] | None = None
    started: float | None = None
    ended: float | None = None
    attempts: int = 0
    warnings: list[str] = field(default_factory=list)       # what the worker chose for the user (e.g. memory)
    predictions: dict[int, dict[str, Any]] = field(default_factory=dict)   # step -> rows and scores (latest evals)
    exact_match: dict[int, float] = field(default_factory=dict)            # step -> share of exact answers
    prediction_seconds: dict[int, float] = field(default_factory=dict)     # step -> seconds spent answering
    prediction_events: int = 0      # predictions events applied: views rebuild only when it moves

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "hello":
            self.attempts += 1
            self.hello = event
            self.status, self.error, self.done, self.ended = "running", None, None, None
            self.started = self.started or event.get("t")
        elif kind == "stage":
            self.stage = event.get("name", "")
            self.stage_message = event.get("message", "")
            if event.get("previous") and event.get("seconds") is not None:
                self.stage_times[event["previous"]] = event["seconds"]
        elif kind == "data_stats":
            self.data_stats = event
        elif kind == "progress":
            self.step = int(event.get("step", self.step))
            self.max_steps = int(event.get("max_steps", self.max_steps) or 0)
            self.epoch = float(event.get("epoch", self.epoch) or 0.0)
            self.eta_s = event.get("eta_s")
            self.eta_at = event.get("t")
        elif kind in ("metrics", "eval"):
            step = int(event.get("step", self.step))
            for key in SERIES:
                value = event.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.series[key][step] = float(value)
        elif kind == "predictions":
            self._apply_predictions(event)
        elif kind == "checkpoint":
            self.checkpoints.append({"step": event.get("step"), "path": event.get("path")})
        elif kind == "warning" and event.get("message"):
            if event["message"] not in self.warnings:      # a resumed attempt may say it again
                self.warnings.append(str(event["message"]))
        elif kind == "error":
            self.error = event
        elif kind == "done":
            self.done = event
            self.status = event.get("status", "failed")
            self.ended = event.get("t")

    def _apply_predictions(self, event: dict[str, Any]) -> None:
        step = int(event.get("step", self.step))
        rows = [r for r in event.get("rows") or [] if isinstance(r, dict)]
        entry = {"step": step, "epoch": event.get("epoch"), "rows": rows,
                 "exact_match": _number(event.get("exact_match")),
                 "mean_similarity": _number(event.get("mean_similarity")),
                 "seconds": _number(event.get("seconds")), "max_new_tokens": event.get("max_new_tokens")}
        self.predictions.pop(step, None)           # a step re-done after a resume replaces the old answers
        self.predictions[step] = entry
        while len(self.predictions) > PREDICTION_EVALS:
            del self.predictions[min(self.predictions)]
        if entry["exact_match"] is not None:
            self.exact_match[step] = entry["exact_match"]
        if entry["seconds"] is not None:
            self.prediction_seconds[step] = entry["seconds"]
        self.prediction_events += 1

    @property
    def latest_predictions(self) -> dict[str, Any] | None:
        """The prediction samples of the last evaluation (highest step), or None."""
        return self.predictions[max(self.predictions)] if self.predictions else None

    @property
    def prediction_time(self) -> float:
        """Seconds spent answering prediction samples, all evaluations: a part of the `train` stage."""
        return round(sum(self.prediction_seconds.values()), 3)

    def points(self, key: str) -> tuple[list[int], list[float]]:
        """Sorted (steps, values) of one series, for plotting."""
        data = self.series[key]
        steps = sorted(data)
        return steps, [data[s] for s in steps]

    @property
    def last_checkpoint(self) -> str | None:
        return self.checkpoints[-1]["path"] if self.checkpoints else None

    @property
    def best_eval_loss(self) -> float | None:
        values = self.series["eval_loss"].values()
        return min(values) if values else None

    @property
    def final_loss(self) -> float | None:
        """The loss of the last step, in O(1): the status bar asks on every progress event.
        Steps arrive in increasing order and a step re-done after a resume overwrites its old
        entry in place, so the last key inserted is always the highest step."""
        data = self.series["loss"]
        return data[next(reversed(data))] if data else None

    @classmethod
    def from_file(cls, path: Path) -> "RunHistory":
        history = cls()
        for event in read_events(path):
            history.apply(event)
        return history


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    if path.is_file():
        with open(path, "rb") as fh:
            for line in fh:
                event = protocol.decode(line)
                if event is not None:
                    events.append(event)
    return events
