"""Time left in a training run: a smoothed step time plus the evaluations and saves still to come.

The first ETA was `elapsed / steps done * steps left`, from train begin. That is wrong twice:
the first step (CUDA kernels compiled, caches warmed, the data loader started) can take many
times a normal one, and time spent evaluating, answering prediction samples and writing
checkpoints between steps was counted as step time, so after each evaluation the estimate
jumped (the issue saw "52 s", then "about 5 min" for 8 minutes).

Here the two are kept apart:

- step time: the time from one step's end to the next, less any pause between them; the first
  step is dropped once a second one is known, and the rest are smoothed: the mean of the last
  WINDOW steps, each clipped to OUTLIER times their median first. A run that slows down or speeds
  up is followed within WINDOW steps; one odd step (the machine busy for a moment: a real demo run
  had a 7 s step among 0.5 s ones) moves it little. A plain mean or an early moving average let
  that one step double the estimate; a median alone would miss steps that are long for a reason
  (longer sequences), which the clipped mean still counts;
- pauses: what happens after a step and before the next one starts (evaluation with its
  prediction samples, a checkpoint save), timed per kind of pause and counted again at the rate
  it recurs. An honest ETA at step 40 of 100 with an evaluation every 25 steps includes the
  evaluations at 50, 75 and 100. A kind of pause not seen yet costs nothing in the estimate
  (its cost is unknown until it first happens).

No torch, no Qt: the worker's callback feeds it times, and tests feed it synthetic ones.
The `*_text` functions are the one wording of elapsed and remaining time for the GUI and the CLI.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from statistics import median
from typing import Any

WINDOW = 30             # recent steps the step time is averaged over
OUTLIER = 3.0           # a step counts at most this many times the recent median


@dataclass
class EtaEstimator:
    """Feed `start`, then `step_end` after every optimizer step and `pause` for the time spent
    evaluating or saving after one; `eta` is the seconds left until the last step's pauses end.

    every: steps between pauses of each kind ({"eval": 25, "save": 50}; 0: not periodic; a kind not
    named here is periodic at the rate it is seen).
    at_end: kinds that also happen after the last step whatever the period (the Trainer evaluates
    and saves at the end with a step-based schedule)."""

    max_steps: int
    every: dict[str, int] = field(default_factory=dict)
    at_end: frozenset[str] = frozenset()
    step_seconds: float | None = None            # the smoothed time of one step
    _steps_timed: int = 0
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))   # first step left out
    _last_step: int = 0
    _last_time: float = 0.0
    _paused: float = 0.0                         # pause seconds since the last step end
    _pauses: dict[frozenset[str], float] = field(default_factory=dict)   # kinds -> smoothed seconds
    _seen: dict[str, list[int]] = field(default_factory=dict)   # kind -> [first, last, count] of its steps

    def start(self, step: int, now: float) -> None:
        """Training (re)starts at `step` (not 0 after a resume)."""
        self._last_step, self._last_time, self._paused = step, now, 0.0

    def pause(self, kinds: set[str] | frozenset[str], seconds: float, after_step: int | None = None) -> None:
        """`seconds` were spent on `kinds` ("eval", "save") after step `after_step` (the last one)."""
        if not kinds or seconds < 0:
            return
        key = frozenset(kinds)
        step = self._last_step if after_step is None else after_step
        self._paused += seconds
        old = self._pauses.get(key)
        self._pauses[key] = seconds if old is None else old + 0.5 * (seconds - old)
        for kind in key:
            seen = self._seen.setdefault(kind, [step, step, 0])
            if step != self.max_steps and (seen[2] == 0 or step != seen[1]):     # the end's pause is no period
                seen[0], seen[1], seen[2] = (step if seen[2] == 0 else seen[0]), step, seen[2] + 1

    def step_end(self, step: int, now: float) -> float | None:
        """A step ended at `now`; returns the new `eta` (None while nothing is timed)."""
        steps = step - self._last_step
        if steps > 0:
            per_step = max(0.0, now - self._last_time - self._paused) / steps
            self._add_step_time(per_step)
        self._last_step, self._last_time, self._paused = step, now, 0.0
        return self.eta()

    def _add_step_time(self, seconds: float) -> None:
        self._steps_timed += 1
        if self._steps_timed == 1:          # warm-up, compile, data loader start: all it knows yet
            self.step_seconds = seconds
            return
        self._recent.append(seconds)        # from the second step on, the first is left out
        ceiling = OUTLIER * median(self._recent)
        self.step_seconds = sum(min(s, ceiling) for s in self._recent) / len(self._recent)

    def eta(self) -> float | None:
        """Seconds until training ends: the steps left at the smoothed step time, plus the pauses
        still to come after the current step and the ones left (the current step's included)."""
        if self.step_seconds is None:
            return None
        left = max(0, self.max_steps - self._last_step)
        return left * self.step_seconds + self.pauses_left()

    def pauses_left(self) -> float:
        """Expected seconds of the pauses after the steps from the current one to the last.

        Counted, not looped over (a run of a million steps evaluating every step is as cheap):
        for each combination of kinds, the steps divisible by exactly those periods
        (inclusion-exclusion over the few kinds); the last step has its own at-end kinds."""
        # The current step's pause is still to come, unless some of it was already timed.
        first, last = max(self._last_step + (1 if self._paused else 0), 1), self.max_steps
        if last < first:
            return 0.0
        periods = {kind: self._period(kind) for kind in {*self.every, *self._seen}}
        periods = {kind: p for kind, p in periods.items() if p > 0}
        kinds = sorted(periods)
        total = 0.0
        for subset in _subsets(kinds):
            exact = sum((-1) ** (len(sup) - len(subset)) * _multiples(_lcm(periods[k] for k in sup), first, last - 1)
                        for sup in _subsets(kinds) if set(subset) <= set(sup))
            if exact and subset:
                total += exact * self._pause_cost(frozenset(subset))
        at_last = frozenset(k for k, p in periods.items() if last % p == 0) | self.at_end
        return total + self._pause_cost(at_last)

    def _period(self, kind: str) -> int:
        """The declared period (0: not periodic, e.g. a save asked for once), else for a kind not
        declared the one observed: the steps between its pauses, or the step of the first one."""
        if kind in self.every:
            return int(self.every[kind] or 0)
        first, last, count = self._seen.get(kind, [0, 0, 0])
        if count >= 2:
            return max(1, round((last - first) / (count - 1)))
        return first if count else 0

    def _pause_cost(self, kinds: frozenset[str]) -> float:
        """What a pause of these kinds costs: as timed, else the sum of its kinds timed alone,
        else 0 for a kind never seen (unknown until it first happens)."""
        if not kinds:
            return 0.0
        if kinds in self._pauses:
            return self._pauses[kinds]
        cost = 0.0
        for kind in kinds:
            alone = self._pauses.get(frozenset({kind}))
            if alone is None:        # seen only together with another kind: its share of the smallest such pause
                together = [s / len(k) for k, s in self._pauses.items() if kind in k]
                alone = min(together) if together else 0.0
            cost += alone
        return cost


def _subsets(items: list[str]) -> list[tuple[str, ...]]:
    from itertools import combinations

    return [c for n in range(len(items) + 1) for c in combinations(items, n)]


def _lcm(numbers: Any) -> int:
    from math import lcm

    return lcm(*numbers)        # 1 for no numbers


def _multiples(period: int, first: int, last: int) -> int:
    """How many multiples of `period` lie in first..last (all steps when period is 1)."""
    return max(0, last // period - (first - 1) // period) if last >= first else 0


# ---- wording, shared by the Runs page, the status bar and the CLI ---------------------------------------

def duration_text(seconds: float | None) -> str:
    """3m 12s, 1h 05m, 42s: the same short form everywhere a duration is shown."""
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(max(0.0, seconds))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def left_text(seconds: float | None) -> str:
    """The remaining time, rounded as far as an estimate deserves: "about 1m 40s left"."""
    if seconds is None:
        return ""
    if seconds < 1:
        return "finishing"
    step = 1 if seconds < 20 else 5 if seconds < 120 else 10 if seconds < 600 else 60
    rounded = max(step, round(seconds / step) * step)
    return f"about {duration_text(rounded)} left"


def remaining_now(history: Any, now: float | None = None) -> float | None:
    """The worker's last ETA, counted down since its progress event arrived: between events
    (a long evaluation is one pause) the display keeps moving instead of freezing. A countdown
    that ran out before the last step (a pause longer than estimated) shows the last ETA again
    rather than "finishing" with steps still to go."""
    eta = getattr(history, "eta_s", None)
    if eta is None:
        return None
    at = getattr(history, "eta_at", None)
    if at is None:
        return float(eta)
    left = float(eta) - max(0.0, (now if now is not None else time.time()) - at)
    if left < 1 and getattr(history, "step", 0) < getattr(history, "max_steps", 0):
        return float(eta)
    return max(0.0, left)


def run_seconds(history: Any, now: float | None = None) -> float | None:
    """Wall time of the run from its first `hello` to its `done` (to now while it runs)."""
    started = getattr(history, "started", None)
    if not started:
        return None
    ended = getattr(history, "ended", None)
    status = getattr(history, "status", "")
    end = ended if ended else ((now if now is not None else time.time()) if status in ("running", "created") else None)
    return max(0.0, end - started) if end else None


def time_text(history: Any, now: float | None = None) -> str:
    """"elapsed 3m 12s · about 1m 40s left" while a run trains; "took 4m 05s" once it ended."""
    seconds = run_seconds(history, now)
    if getattr(history, "status", "") in ("running", "created"):
        parts = [f"elapsed {duration_text(seconds)}" if seconds is not None else ""]
        left = left_text(remaining_now(history, now))
        parts.append(left)
        return " · ".join(p for p in parts if p)
    return f"took {duration_text(seconds)}" if seconds is not None else ""
