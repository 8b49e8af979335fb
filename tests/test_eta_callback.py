"""The training callback's ETA on a fake clock: the Trainer's pause schedule is read from its
arguments, and time spent evaluating or saving between steps is not taken for step time."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import EventRecorder


def test_evaluations_between_steps_do_not_inflate_the_eta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.engine import callbacks
    from studio.engine.worker_io import Controls

    clock = {"now": 100.0}
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock["now"])
    emitter = EventRecorder()
    callback = callbacks.ProtocolCallback(emitter, Controls(), tmp_path)
    args = SimpleNamespace(eval_strategy="steps", save_strategy="no")
    state = SimpleNamespace(global_step=0, max_steps=40, epoch=0.0, num_input_tokens_seen=0, eval_steps=10,
                            save_steps=500, num_train_epochs=1)
    control = SimpleNamespace(should_save=False, should_training_stop=False)
    callback.on_train_begin(args, state, control)
    for step in range(1, 41):
        callback.on_step_begin(args, state, control)
        clock["now"] += 2.0                                   # a 2 s step
        state.global_step = step
        callback.on_step_end(args, state, control)
        if step % 10 == 0:
            clock["now"] += 30.0                              # a 30 s evaluation with its prediction samples
            callback.on_evaluate(args, state, control, metrics={"eval_loss": 1.0})
    etas = {e["step"]: e["eta_s"] for e in emitter.of_type("progress") if e["step"]}
    assert etas[5] == pytest.approx(35 * 2.0)                 # no evaluation timed yet: its cost is unknown
    assert etas[15] == pytest.approx(25 * 2.0 + 3 * 30.0)     # the evaluations at 20, 30 and 40 included
    assert etas[11] == pytest.approx(29 * 2.0 + 3 * 30.0)     # the step after one is not 32 s long
    elapsed_formula = (11 * 2.0 + 30.0) / 11 * 29             # the old estimate: elapsed / done * left
    assert abs(elapsed_formula - (29 * 2 + 3 * 30)) > 10


def test_the_pause_schedule_follows_the_trainer_arguments() -> None:
    from studio.engine.callbacks import eta_estimator

    state = SimpleNamespace(max_steps=120, eval_steps=25, save_steps=50, num_train_epochs=3)
    steps = eta_estimator(SimpleNamespace(eval_strategy="steps", save_strategy="steps"), state)
    assert steps.every == {"eval": 25, "save": 50} and steps.at_end == {"eval", "save"}
    epochs = eta_estimator(SimpleNamespace(eval_strategy="epoch", save_strategy="no"), state)
    assert epochs.every == {"eval": 40, "save": 0} and epochs.at_end == {"eval"}
