"""The JSON-lines protocol and the replay of events into a run's history."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core import protocol
from studio.core.run_history import RunHistory
from studio.core.runs import COMPLETE_MARK, checkpoints, load_run


def test_round_trip_and_nan_becomes_null() -> None:
    event = protocol.make("metrics", step=3, loss=float("nan"), lr=1e-4, nested={"x": [math.inf]})
    line = protocol.encode(event)
    assert "\n" not in line
    back = protocol.decode(line)
    assert back == {**event, "loss": None, "nested": {"x": [None]}}


def test_decode_skips_what_is_not_protocol() -> None:
    for junk in ["", "hello", "{not json", "[1,2]", '{"type": "x"}', '{"v": 99, "type": "x"}',
                 '{"v": 1, "type": 5}', "\x00\xff", b"\xff\xfe{"]:
        assert protocol.decode(junk) is None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary()))
def test_decode_never_raises(data: str | bytes) -> None:
    result = protocol.decode(data)
    assert result is None or (isinstance(result, dict) and result["v"] == 1)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1).filter(lambda k: k not in ("v", "type", "t")),
                       st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(), st.booleans(), st.none()),
                       max_size=5))
def test_any_fields_round_trip(fields: dict) -> None:
    event = protocol.make("log", **fields)
    assert protocol.decode(protocol.encode(event)) == event


def test_history_replay_and_resume_overwrites_redone_steps() -> None:
    h = RunHistory()
    events = [
        protocol.make("hello", worker="train"),
        protocol.make("stage", name="train", previous="tokenize", seconds=1.5),
        protocol.make("metrics", step=1, loss=2.0), protocol.make("metrics", step=2, loss=1.5),
        protocol.make("checkpoint", step=2, path="/c2"), protocol.make("metrics", step=3, loss=1.4),
        protocol.make("hello", worker="train", resume=True),          # crash after step 3, resume from 2
        protocol.make("metrics", step=3, loss=1.3), protocol.make("eval", step=3, eval_loss=1.1),
        protocol.make("done", status="completed"),
    ]
    for e in events:
        h.apply(e)
    assert h.points("loss") == ([1, 2, 3], [2.0, 1.5, 1.3])
    assert (h.status, h.attempts, h.best_eval_loss, h.last_checkpoint) == ("completed", 2, 1.1, "/c2")
    assert h.stage_times == {"tokenize": 1.5}


def test_run_whose_worker_died_is_failed_not_running(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    (run / "checkpoints" / "checkpoint-5").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-5" / COMPLETE_MARK).write_text("step 5")
    (run / "checkpoints" / "checkpoint-9").mkdir()       # half-written: no mark
    (run / "run.yaml").write_text("model:\n  name_or_path: m\n")
    lines = [protocol.make("hello"), protocol.make("metrics", step=9, loss=1.0)]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines) + '{"v": 1, "type": "metr')
    info = load_run(run)
    assert info.status == "failed"
    assert info.history.error["kind"] == "crashed"
    assert "checkpoint-5" in info.history.error["hint"]
    assert checkpoints(run) == [run / "checkpoints" / "checkpoint-5"]
