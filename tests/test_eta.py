"""The run's ETA on synthetic step timings: steady steps, a slow first step, periodic evaluations
and saves, a resume; and the one wording of elapsed and remaining time."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from studio.core.eta import EtaEstimator, duration_text, left_text, remaining_now, time_text


def simulate(max_steps: int, step_s, pauses=None, every=None, at_end=frozenset(), start_step: int = 0):
    """Run a fake training loop on a fake clock; returns [(step, now, eta)] and the end time.
    step_s(step) -> seconds of that step; pauses(step) -> {kind: seconds} spent after it."""
    pauses = pauses or (lambda step: {})
    est = EtaEstimator(max_steps, every=every or {}, at_end=frozenset(at_end))
    now = 1000.0
    est.start(start_step, now)
    seen = []
    for step in range(start_step + 1, max_steps + 1):
        now += step_s(step)
        seen.append((step, now, est.step_end(step, now)))
        spent = pauses(step)
        if spent:
            now += sum(spent.values())
            est.pause(set(spent), sum(spent.values()))
    return seen, now


def test_steady_steps_give_the_exact_time_left():
    seen, end = simulate(100, lambda step: 0.5)
    for step, now, eta in seen:
        assert eta == pytest.approx(end - now, abs=1e-6), step


def test_a_slow_first_step_is_left_out_once_a_normal_one_is_known():
    seen, end = simulate(100, lambda step: 30.0 if step == 1 else 1.0)
    by_step = {step: (now, eta) for step, now, eta in seen}
    assert by_step[1][1] == pytest.approx(99 * 30.0)          # all it knows yet
    now, eta = by_step[2]
    assert eta == pytest.approx(98.0)                         # not 31 s / 2 steps * 98
    assert eta == pytest.approx(end - now)
    elapsed_formula = (now - 1000.0) / 2 * 98                 # the old estimate: 15.5 s per step
    assert elapsed_formula > 10 * eta


def test_periodic_evaluations_are_counted_at_the_rate_they_recur():
    """1 s steps, a 5 s evaluation after every 10th step: after the first one is timed, the ETA
    is the real time left, evaluations included, and it does not jump after each evaluation."""
    seen, end = simulate(100, lambda step: 1.0, pauses=lambda step: {"eval": 5.0} if step % 10 == 0 else {},
                         every={"eval": 10}, at_end={"eval"})
    for step, now, eta in seen:
        if step > 10:
            assert eta == pytest.approx(end - now, abs=1e-6), step
    by_step = {step: eta for step, _now, eta in seen}
    assert by_step[15] == pytest.approx(85 * 1.0 + 9 * 5.0)   # evaluations at 20, 30, ..., 100
    # before any evaluation was timed its cost is unknown: only the steps count
    assert by_step[5] == pytest.approx(95.0)
    # ETA falls by the time that passed, step after step (no jump after an evaluation)
    times = {step: now for step, now, _eta in seen}
    for step in range(12, 100):
        passed = times[step + 1] - times[step]
        assert by_step[step] - by_step[step + 1] == pytest.approx(passed, abs=1e-6)


def test_evaluation_and_save_together_and_apart():
    def pauses(step):
        spent = {}
        if step % 10 == 0:
            spent["eval"] = 4.0
        if step % 25 == 0 or step == 100:
            spent["save"] = 2.0
        return spent

    seen, end = simulate(100, lambda step: 1.0, pauses=pauses, every={"eval": 10, "save": 25},
                         at_end={"eval", "save"})
    by_step = {step: (now, eta) for step, now, eta in seen}
    # after step 30: eval alone (4 s) and save alone (2 s, at 25) are timed; the eval+save at 50
    # and 100 is priced as their sum, evals at 40, 60, 70, 80, 90, the save at 75
    now, eta = by_step[31]
    assert eta == pytest.approx(69 + 5 * 4.0 + 2.0 + 2 * 6.0)
    assert eta == pytest.approx(end - now)
    for step, now, eta in seen:
        if step > 25:
            assert eta == pytest.approx(end - now, abs=1e-6), step


def test_changing_step_time_is_followed_and_one_odd_step_moves_it_little():
    seen, _end = simulate(200, lambda step: 2.0 if step > 100 else 1.0)
    by_step = {step: eta for step, _now, eta in seen}
    assert by_step[100] / 100 == pytest.approx(1.0)
    assert by_step[130] / 70 == pytest.approx(2.0)               # caught up within 30 steps
    seen, _end = simulate(100, lambda step: 11.0 if step == 50 else 1.0)
    by_step = {step: eta for step, _now, eta in seen}
    assert by_step[50] / 50 < 1.1                                # one 11 s step counts as 3 s, over 30 steps
    assert by_step[81] / 19 == pytest.approx(1.0)                # and is gone once out of the window
    # as in a real demo run: 0.5 s steps, the 4th of them 7.4 s (the machine was busy)
    seen, end = simulate(20, lambda step: 7.4 if step == 4 else 0.5)
    by_step = {step: (now, eta) for step, now, eta in seen}
    now, eta = by_step[4]
    assert eta == pytest.approx(16 * (0.5 + 0.5 + 1.5) / 3)     # 7.4 s counts as 3 x the median
    assert eta < 2 * (end - now)


def test_resumed_run_counts_from_its_start_step():
    seen, end = simulate(100, lambda step: 1.0, start_step=60)
    first_step, now, eta = seen[1]
    assert first_step == 62
    assert eta == pytest.approx(38.0) == pytest.approx(end - now)


def test_a_save_asked_for_once_is_not_taken_for_a_schedule():
    est = EtaEstimator(100, every={"eval": 0, "save": 0})
    est.start(0, 0.0)
    for step in range(1, 11):
        est.step_end(step, float(step))
    est.pause({"save"}, 30.0)                  # save_now at step 10
    assert est.step_end(11, 41.0) == pytest.approx(89.0)   # 1 s steps; no save expected


def test_an_undeclared_kind_is_periodic_at_the_rate_seen():
    seen, end = simulate(100, lambda step: 1.0, pauses=lambda step: {"eval": 3.0} if step % 20 == 0 else {})
    by_step = {step: (now, eta) for step, now, eta in seen}
    now, eta = by_step[41]
    assert eta == pytest.approx(59 + 3 * 3.0)    # 60, 80, 100
    assert eta == pytest.approx(end - now)


def test_a_long_run_with_frequent_pauses_is_cheap():
    est = EtaEstimator(10_000_000, every={"eval": 1, "save": 3}, at_end=frozenset({"save"}))
    est.start(0, 0.0)
    est.step_end(1, 1.0)
    est.pause({"eval"}, 0.5)
    est.step_end(2, 2.5)
    started = time.perf_counter()
    for step in range(3, 503):
        est.step_end(step, step + 0.5 * step)
    assert time.perf_counter() - started < 0.5


def test_wording():
    assert duration_text(192) == "3m 12s"
    assert duration_text(42.4) == "42s"
    assert duration_text(3 * 3600 + 5 * 60 + 9) == "3h 05m"
    assert left_text(100) == "about 1m 40s left"
    assert left_text(101.7) == "about 1m 40s left"       # an estimate is not shown to the second
    assert left_text(7.2) == "about 7s left"
    assert left_text(0.2) == "finishing"
    assert left_text(None) == ""


def test_time_text_counts_down_while_running_and_shows_the_total_when_done():
    history = SimpleNamespace(status="running", started=1000.0, ended=None, eta_s=100.0, eta_at=1190.0,
                              step=40, max_steps=100)
    assert time_text(history, now=1192.0) == "elapsed 3m 12s · about 1m 40s left"
    assert remaining_now(history, now=1230.0) == pytest.approx(60.0)
    assert remaining_now(history, now=1400.0) == pytest.approx(100.0)    # overran with steps to go: not "finishing"
    history.step = 100
    assert time_text(history, now=1400.0).endswith("finishing")
    history.eta_s = None
    assert time_text(history, now=1192.0) == "elapsed 3m 12s"
    done = SimpleNamespace(status="completed", started=1000.0, ended=1245.0, eta_s=3.0, eta_at=1240.0)
    assert time_text(done, now=5000.0) == "took 4m 05s"
