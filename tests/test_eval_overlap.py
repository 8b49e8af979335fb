"""Evaluation data that is the training data is warned about: its loss would only show memorisation."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import chat, studio, write_jsonl
from studio.core.datasets import eval_overlap, import_dataset


def test_same_file_and_shared_examples_are_named(tmp_path: Path) -> None:
    rows = [chat(f"question {i}", f"answer {i}") for i in range(10)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    evals = write_jsonl(tmp_path / "eval.jsonl", rows[:2] + [chat("new", "unseen")])
    a, b = import_dataset(train).records, import_dataset(evals).records
    assert "the eval file is the training file" in eval_overlap(a, a, str(train), str(tmp_path / "." / "train.jsonl"))
    assert eval_overlap(a, b, str(train), str(evals)).startswith("2 of 3 eval examples (67%)")
    assert eval_overlap(a, b[2:], str(train), str(evals)) == ""
    assert eval_overlap(a, [], str(train), str(train)) == ""


def test_data_check_warns_when_eval_is_the_training_file(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", [chat(f"q{i}", f"a{i}") for i in range(5)])
    result = studio("data", "check", str(train), "--eval-data", str(train), "--json", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert any("the eval file is the training file" in w for w in warnings)
